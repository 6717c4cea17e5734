# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run).

# bench_write_section DOC HEADING SECTION: replaces only that section of
# DOC (from its heading to the next "## " heading), or appends it.
bench_write_section() {
  local doc=$1 heading=$2 section=$3 tmp
  mkdir -p "$(dirname "$doc")"
  [ -f "$doc" ] || printf '# Benchmarks\n' > "$doc"
  tmp=$(mktemp "$doc.XXXXXX")
  SECTION=$section HEADING=$heading awk '
    BEGIN { heading = ENVIRON["HEADING"]; section = ENVIRON["SECTION"] }
    $0 == heading { print section; print ""; skip = 1; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) { print ""; print section } }' "$doc" > "$tmp"
  # Collapse runs of blank lines that the splice may leave.
  cat -s "$tmp" > "$doc"
  rm -f "$tmp"
}
