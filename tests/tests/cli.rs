//! The `gongkai` binary as operators use it: init, tokens, import with its
//! per-line report, search, and the rectification scan in JSON and CSV.

use std::process::Output;

use gongkai_tests::*;

const BIN: &str = env!("CARGO_BIN_EXE_gongkai-e2e-node");

async fn gongkai(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Output> {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(cmd.output().await?)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn init_import_search_and_scan() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let dir = tempfile::tempdir()?;
    let mut node = NodeProcess::init(BIN, dir.path(), "340823.edu", &nats.url).await?;
    // init refuses to overwrite, and names the flag that would.
    let dup = tokio::process::Command::new(BIN)
        .args([
            "node",
            "init",
            "--unit",
            "340823.edu",
            "--name",
            "x",
            "--org-code",
            "X",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .await?;
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("--force"));
    let bad_unit = tokio::process::Command::new(BIN)
        .args([
            "node",
            "init",
            "--unit",
            "340823..edu",
            "--name",
            "x",
            "--org-code",
            "X",
            "--data-dir",
        ])
        .arg(dir.path().join("other"))
        .output()
        .await?;
    assert!(String::from_utf8_lossy(&bad_unit.stderr).contains("--unit"));

    let addr = node.start().await?;
    let server = format!("http://{addr}");
    let config = node.config.display().to_string();
    let env = [
        ("GONGKAI_CONFIG", config.as_str()),
        ("GONGKAI_SERVER", server.as_str()),
    ];
    let editor = stdout(
        &gongkai(
            &["token", "issue", "--sub", "信息员", "--role", "editor"],
            &env,
        )
        .await?,
    )
    .trim()
    .to_owned();
    let reviewer = stdout(
        &gongkai(
            &["token", "issue", "--sub", "审核员", "--role", "reviewer"],
            &env,
        )
        .await?,
    )
    .trim()
    .to_owned();
    // Output into a pipe whose reader has gone (`gongkai … | head -1`): the
    // command ends quietly instead of panicking.
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let cut = tokio::process::Command::new(BIN)
        .args(["token", "issue", "--sub", "x", "--role", "editor"])
        .env("GONGKAI_CONFIG", &config)
        .stdout(writer)
        .output()
        .await?;
    assert!(
        cut.status.success(),
        "{:?}: {}",
        cut.status,
        String::from_utf8_lossy(&cut.stderr)
    );
    assert!(
        cut.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let bad_role = gongkai(&["token", "issue", "--sub", "x", "--role", "root"], &env).await?;
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("--role"));

    let today = gongkai_kernel::db::today_cst().to_string();
    let lines = [
        format!(
            r#"{{"title":"住址公示","column":"gzzj","date_formed":"{today}","body":"申请人住址：籍山镇南街12号，已核实。"}}"#
        ),
        r#"{"title":"日期错误","column":"gzzj","date_formed":"2026-02-30","body":"x"}"#.to_owned(),
        "not json".to_owned(),
        format!(
            r#"{{"title":"含手机号","column":"gzzj","date_formed":"{today}","body":"联系电话13812345678"}}"#
        ),
        String::new(),
        format!(
            r#"{{"title":"财政预算公开","column":"gzzj","date_formed":"{today}","body":"部门预算和三公经费公开。"}}"#
        ),
    ];
    let file = dir.path().join("docs.jsonl");
    std::fs::write(&file, lines.join("\n"))?;
    let out = gongkai(
        &[
            "import",
            "--no-progress",
            "--token",
            &editor,
            "--reviewer-token",
            &reviewer,
            file.to_str().unwrap_or_default(),
        ],
        &env,
    )
    .await?;
    let report = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "failures give exit code 2: {report}"
    );
    assert!(
        report.contains("imported 2 document(s), published 2, failed 3, blank lines 1"),
        "{report}"
    );
    assert!(
        report.contains("line 2: create: InvalidArgument: fields.date_formed"),
        "{report}"
    );
    assert!(
        report.contains("line 3: not a valid document line"),
        "{report}"
    );
    assert!(
        report.contains("line 4: submit") && report.contains("privacy scan"),
        "{report}"
    );

    let found = eventually(10, || async {
        let o = gongkai(&["search", "预算", "--json"], &env).await?;
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        Ok((v["total"] == 1).then_some(v))
    })
    .await?;
    assert_eq!(found["hits"][0]["title"], "财政预算公开");

    // A rule added later finds what is already published: the rectification list.
    node.kill().await?;
    let mut text = std::fs::read_to_string(&node.config)?;
    text.push_str("\n[publishing.privacy]\n[[publishing.privacy.extra_patterns]]\nname = \"address\"\nregex = '住址：[^，。]+'\nkeep_head = 3\n");
    std::fs::write(&node.config, text)?;
    let addr = node.start().await?;
    let server = format!("http://{addr}");
    let env = [
        ("GONGKAI_CONFIG", config.as_str()),
        ("GONGKAI_SERVER", server.as_str()),
    ];
    let csv_path = dir.path().join("rect.csv");
    let out = gongkai(
        &[
            "scan",
            "--format",
            "csv",
            "--token",
            &reviewer,
            "--output",
            csv_path.to_str().unwrap_or_default(),
        ],
        &env,
    )
    .await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&csv_path)?;
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].starts_with("document_id,index_no,title"));
    assert!(
        rows[1].contains("住址公示") && rows[1].contains("pattern:address"),
        "{csv}"
    );
    assert!(rows[1].contains("住址：*"), "masked: {csv}");
    assert!(!rows[1].contains("南街12号"), "never the raw data: {csv}");
    let out = gongkai(&["scan", "--token", &reviewer], &env).await?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["documents_scanned"], 2);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["items"][0]["field"], "body");
    let denied = gongkai(&["scan", "--token", &editor], &env).await?;
    assert!(String::from_utf8_lossy(&denied.stderr).contains("PermissionDenied"));
    node.kill().await?;
    Ok(())
}

/// `doc interpretations-due`: a policy document published ahead of its
/// interpretation (a lag allowed) is listed with its due date, and how
/// late it is, until the interpretation is out. The policy document carries
/// its last day in force (`--valid-until`).
#[tokio::test]
async fn interpretations_due_are_listed_until_released() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let dir = tempfile::tempdir()?;
    let mut node = NodeProcess::init(BIN, dir.path(), "340823.edu", &nats.url).await?;
    let addr = node
        .start_with_env(&[("GONGKAI__PUBLISHING__INTERPRETATION_LAG_DAYS", "3")])
        .await?;
    let server = format!("http://{addr}");
    let config = node.config.display().to_string();
    let env = [
        ("GONGKAI_CONFIG", config.as_str()),
        ("GONGKAI_SERVER", server.as_str()),
    ];
    let run = async |args: &[&str]| -> anyhow::Result<String> {
        let out = gongkai(args, &env).await?;
        anyhow::ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(stdout(&out).trim().to_owned())
    };
    let editor = run(&["token", "issue", "--sub", "信息员", "--role", "editor"]).await?;
    let reviewer = run(&["token", "issue", "--sub", "审核员", "--role", "reviewer"]).await?;
    let create = async |column: &str, title: &str, extra: &[&str]| {
        let mut args = vec![
            "doc",
            "create",
            "--token",
            &editor,
            "--title",
            title,
            "--column",
            column,
            "--date-formed",
            "2026-09-01",
            "--body",
            "关于规范校外培训的若干规定。",
        ];
        args.extend_from_slice(extra);
        run(&args).await
    };
    let policy = create(
        "gfxwj",
        "南陵县校外培训管理办法",
        &["--valid-until", "2031-08-31"],
    )
    .await?;
    let interp = create("zcjd", "《南陵县校外培训管理办法》政策解读", &[]).await?;
    let shown = run(&["doc", "show", "--token", &editor, &policy]).await?;
    assert!(
        shown.contains("valid_until:    2031-08-31"),
        "the last day in force is kept: {shown}"
    );
    run(&["doc", "link", "--token", &editor, &policy, &interp]).await?;
    for id in [&policy, &interp] {
        run(&["doc", "submit", "--token", &editor, id]).await?;
        run(&["doc", "review", "--token", &reviewer, "--approve", id]).await?;
    }
    run(&[
        "doc",
        "publish",
        "--token",
        &editor,
        &policy,
        "--date",
        "2026-10-09",
    ])
    .await?;
    let due = run(&["doc", "interpretations-due", "--token", &editor]).await?;
    let lines: Vec<&str> = due.lines().collect();
    assert_eq!(lines.len(), 2, "{due}");
    assert_eq!(lines[0], "1 interpretation(s) to release");
    // Published Fri 10-09; the make-up Saturday 10-10 works: due Tue 10-13.
    assert!(
        lines[1].starts_with(&format!(
            "due 2026-10-13 {policy} 南陵县校外培训管理办法 ← {interp} approved, "
        )) && lines[1].contains(" working day(s) late"),
        "{due}"
    );
    run(&["doc", "publish", "--token", &editor, &interp]).await?;
    let due = run(&["doc", "interpretations-due", "--token", &editor]).await?;
    assert_eq!(due, "0 interpretation(s) to release");
    node.kill().await?;
    Ok(())
}
