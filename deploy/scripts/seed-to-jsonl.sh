#!/usr/bin/env bash
# Turns the seed's twelve work summaries (政务公开工作总结 篇1…篇12) into
# import lines for `gongkai import`, in the 工作总结 column.
# Usage: seed-to-jsonl.sh [seed.txt] > summaries.jsonl
set -euo pipefail
seed=${1:-"$(dirname "$0")/../seed/work-summaries.txt"}
LC_ALL=C.UTF-8 awk '
function esc(s) {
    gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); gsub(/\t/, "\\t", s); gsub(/\r/, "", s)
    return s
}
function flush() {
    if (n == 0) return
    # Formed on the 10th of month n (篇12 in the previous December), published
    # ten days later; 篇12 waited until late January, so it shows as late.
    if (n < 12) { formed = sprintf("2026-%02d-10", n); published = sprintf("2026-%02d-20", n) }
    else { formed = "2025-12-10"; published = "2026-01-28" }
    title = "政务公开工作总结（篇" n "）"
    if (first != "") title = title "：" first
    printf "{\"title\":\"%s\",\"column\":\"gzzj\",\"date_formed\":\"%s\",\"date_published\":\"%s\",\"subject\":\"政务公开\",\"body\":\"%s\"}\n", esc(title), formed, published, body
}
/^政务公开工作总结 篇[0-9]+/ {
    flush()
    n = substr($0, index($0, "篇") + length("篇")) + 0
    body = ""; first = ""
    next
}
n > 0 {
    line = $0
    if (line ~ /^[ \t\r]*$/) next
    if (first == "" && length(line) < 90) { first = line; sub(/[ \t\r]+$/, "", first) }
    line = esc(line)
    body = (body == "" ? line : body "\\n" line)
}
END { flush() }
' "$seed"
