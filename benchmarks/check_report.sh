#!/usr/bin/env bash
# Open a `descend compare` HTML report in headless Chromium and check that every image renders.
#
# Usage: benchmarks/check_report.sh [REPORT.html]
#   Without an argument, runs `descend compare --epochs 1 --seeds 1` into a temporary folder first.
# Needs Debian's chromium (apt-get install -y chromium). Prints the number of <img> elements and how many
# decoded (complete, naturalWidth > 0) as Chromium saw them after load, saves a screenshot next to the
# report (report-screenshot.png), and exits non-zero unless there is at least one image and all decoded.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
    echo "chromium not found: apt-get update && apt-get install -y chromium" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ $# -ge 1 ]]; then
    report="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
else
    "$here/.venv/bin/descend" compare --epochs 1 --seeds 1 --no-progress --out "$work/report" >/dev/null
    report="$work/report/report.html"
fi

# A copy of the page with a script that, once everything has loaded, writes the image counts into the
# title, which --dump-dom then shows. The report itself has no scripts.
probe="$work/probe.html"
sed 's#</body>#<script>window.addEventListener("load", () => { const imgs = [...document.images]; const ok = imgs.filter(i => i.complete \&\& i.naturalWidth > 0); document.title = "IMAGES " + imgs.length + " DECODED " + ok.length + " SIZES " + ok.map(i => i.naturalWidth + "x" + i.naturalHeight).join(","); });</script></body>#' \
    "$report" > "$probe"

flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars
       --user-data-dir="$work/profile" --virtual-time-budget=10000)
dom="$("$browser" "${flags[@]}" --dump-dom "file://$probe" 2>/dev/null)"
title="$(grep -o '<title>IMAGES[^<]*</title>' <<<"$dom" | sed 's#</\?title>##g' || true)"
shot="$(dirname "$report")/report-screenshot.png"
"$browser" "${flags[@]}" --window-size=1100,2400 --screenshot="$shot" "file://$report" >/dev/null 2>&1 || true

echo "report: $report"
echo "chromium: $("$browser" --version 2>/dev/null || echo unknown)"
echo "seen: ${title:-no result (the page did not load)}"
[[ -f "$shot" ]] && echo "screenshot: $shot"
read -r _ total _ decoded _ <<<"${title:-IMAGES 0 DECODED 0}"
if [[ "$total" -gt 0 && "$total" == "$decoded" ]]; then
    echo "OK: all $total images rendered"
else
    echo "FAIL: $decoded of $total images rendered" >&2
    exit 1
fi
