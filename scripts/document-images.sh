#!/usr/bin/env bash
# Page images of sample documents for the README (docs/documents/*.png), from the corpus the
# tests render: a B2C invoice, a B2B invoice, a 65-line invoice (first and last page), credit
# notes (whole, partial, German labels), a corrected invoice, a German GmbH's invoice and a fee
# invoice. Needs pdftoppm (Debian poppler-utils). Look at them before committing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo test -p marketbill-documents --test corpus every_document >/dev/null
corpus="$target/tmp/test-corpus/documents"
out=docs/documents
mkdir -p "$out"
page() { # file page name
  pdftoppm -png -r 70 -f "$2" -l "$2" -singlefile "$corpus/$1" "$out/$3"
}
page MaisonLumire-ML2026-000001.pdf 1 b2c-invoice
page MaisonLumire-ML2026-000100.pdf 1 b2b-invoice
page MaisonLumire-ML2026-000200.pdf 1 long-invoice-page-1
last=$(pdfinfo "$corpus/MaisonLumire-ML2026-000200.pdf" | awk '/^Pages:/ {print $2}')
page MaisonLumire-ML2026-000200.pdf "$last" long-invoice-last-page
page BcherwurmGmbH-BW-AV2026-000001.pdf 1 credit-note
page BcherwurmGmbH-BW-AV2026-000400.pdf 1 credit-note-german-labels
page MarketbillSAS-MB2026-000001.pdf 1 fee-invoice
page MaisonLumire-MLAV2026-000003.pdf 1 partial-credit-note
page MaisonLumire-ML2026-000008.pdf 1 corrected-invoice
page BcherwurmGmbH-BW-F2026-000401.pdf 1 german-invoice
ls -l "$out"
