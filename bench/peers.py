#!/usr/bin/env python3
"""The same invoice content, made into a PDF by reportlab (platypus) and by WeasyPrint
(HTML + CSS), timed the way the Rust side is: the font is registered once per process, then
each document is built to bytes in memory; the median of N builds is reported.

Input: an invoice as our domain serialises it (written by `marketbill-bench`), and the TTF
font our PDFs embed (DejaVu Sans), so every tool embeds the same face.
Output: one JSON object on standard output.

usage: peers.py --invoice FILE --font TTF --iterations N [--weasyprint-iterations M]
"""
import argparse
import html
import io
import json
import statistics
import time
from decimal import Decimal


def fr(d, places=2):
    """A French-formatted amount: 1 234,56."""
    q = Decimal(str(d)).quantize(Decimal(1).scaleb(-places))
    sign = "-" if q < 0 else ""
    whole, _, frac = f"{abs(q):f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + "\u202f".join(groups) + ("," + frac if frac else "")


def rate(r):
    return fr(Decimal(str(r)).normalize(), 1).rstrip("0").rstrip(",") + " %"


def address_lines(a):
    return list(a["lines"]) + [f'{a["postalCode"]} {a["city"]}', a["country"]]


def view(inv):
    """What every renderer prints: the same blocks as our PDF."""
    b = inv["body"]
    s = b["seller"]
    seller = [s["legalName"]] + address_lines(s["address"])
    for label, key in (("SIREN", "siren"), ("SIRET", "siret"), ("TVA", "vatNumber")):
        if s.get(key):
            seller.append(f"{label} {s[key]}")
    seller.append(s["legalMentions"])
    buyer = [b["buyer"]["name"]] + address_lines(b["buyer"]["address"])
    delivery = [b["delivery"]["name"]] + address_lines(b["delivery"]["address"]) if b.get("delivery") else []
    rows = [
        [l["description"], fr(l["quantity"], 0), fr(l["unitPriceNet"]), rate(l["vatRate"]), fr(l["netAmount"])]
        for l in b["lines"]
    ]
    vat = [[rate(v["rate"]), fr(v["taxableAmount"]), fr(v["vatAmount"])] for v in b["vatBreakdown"]]
    t = b["totals"]
    totals = [["Total HT", fr(t["taxExclusive"])], ["TVA", fr(t["vatTotal"])], ["Total TTC", fr(t["taxInclusive"])],
              ["Déjà payé", fr(t["prepaid"])], ["Net à payer", fr(t["payable"])]]
    head = [f'FACTURE {inv["number"]}', f'Date : {inv["issueDate"]}', f'Commande : {b["orderId"]}',
            f'Livraison : {b["deliveryDate"]}']
    notes = [n["text"] for n in b["notes"]] + [f'Payée le {b["payment"]["paidOn"]}. {b["payment"]["terms"]}']
    return dict(seller=seller, buyer=buyer, delivery=delivery, rows=rows, vat=vat, totals=totals, head=head,
                notes=notes, footer=f'{s["legalName"]} — {s["legalMentions"]}')


def reportlab_maker(font_path):
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(TTFont("DejaVu", font_path))
    small = ParagraphStyle("s", fontName="DejaVu", fontSize=8, leading=10)
    body = ParagraphStyle("b", fontName="DejaVu", fontSize=9, leading=11)
    title = ParagraphStyle("t", fontName="DejaVu", fontSize=14, leading=17)

    def make(v):
        out = io.BytesIO()
        doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                                bottomMargin=20 * mm, title=v["head"][0], author=v["seller"][0])
        para = lambda lines, st=body: Paragraph("<br/>".join(html.escape(x) for x in lines), st)
        top = Table([[para(v["seller"], small), [Paragraph(html.escape(v["head"][0]), title), para(v["head"][1:])]]],
                    colWidths=[95 * mm, 85 * mm])
        parties = Table([[para(v["buyer"]), para(v["delivery"]) if v["delivery"] else ""]], colWidths=[90 * mm, 90 * mm])
        rows = [["Désignation", "Qté", "PU HT", "TVA", "Total HT"]] + [
            [Paragraph(html.escape(r[0]), small)] + r[1:] for r in v["rows"]]
        lines = Table(rows, colWidths=[90 * mm, 15 * mm, 25 * mm, 20 * mm, 30 * mm], repeatRows=1)
        lines.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "DejaVu", 8),
                                   ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                                   ("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey)]))
        vat = Table([["Taux", "Base HT", "TVA"]] + v["vat"], colWidths=[20 * mm, 30 * mm, 30 * mm])
        vat.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "DejaVu", 8), ("ALIGN", (0, 0), (-1, -1), "RIGHT")]))
        totals = Table(v["totals"], colWidths=[35 * mm, 30 * mm])
        totals.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "DejaVu", 9), ("ALIGN", (1, 0), (1, -1), "RIGHT")]))
        summary = Table([[vat, totals]], colWidths=[90 * mm, 90 * mm])

        def footer(canvas, d):
            canvas.saveState()
            canvas.setFont("DejaVu", 7)
            canvas.drawString(15 * mm, 10 * mm, v["footer"])
            canvas.drawRightString(195 * mm, 10 * mm, f"Page {d.page}")
            canvas.restoreState()

        story = [top, Spacer(1, 6 * mm), parties, Spacer(1, 6 * mm), lines, Spacer(1, 4 * mm), summary,
                 Spacer(1, 4 * mm)] + [Paragraph(html.escape(n), small) for n in v["notes"]]
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
        return out.getvalue()

    return make


def weasyprint_maker(font_path):
    from weasyprint import HTML

    css = f"""
    @font-face {{ font-family: DejaVu; src: url('file://{font_path}'); }}
    @page {{ size: A4; margin: 15mm 15mm 20mm 15mm;
            @bottom-left {{ content: "FOOTER"; font: 7pt DejaVu; }}
            @bottom-right {{ content: "Page " counter(page) " / " counter(pages); font: 7pt DejaVu; }} }}
    body {{ font: 9pt DejaVu; }}
    .top, .parties, .summary {{ display: flex; justify-content: space-between; }}
    .seller {{ font-size: 8pt; width: 95mm; }} h1 {{ font-size: 14pt; margin: 0; }}
    table.lines {{ width: 100%; border-collapse: collapse; font-size: 8pt; margin-top: 6mm; }}
    table.lines th {{ background: #e8e8e8; text-align: left; }}
    table.lines td {{ border-bottom: 0.25pt solid grey; vertical-align: top; }}
    td.n {{ text-align: right; }} thead {{ display: table-header-group; }}
    .notes {{ font-size: 8pt; margin-top: 4mm; }}
    """

    def make(v):
        e = html.escape
        br = lambda lines: "<br>".join(e(x) for x in lines)
        rows = "".join("<tr><td>" + e(r[0]) + "</td>" + "".join(f'<td class="n">{e(c)}</td>' for c in r[1:]) + "</tr>"
                       for r in v["rows"])
        vat = "".join("<tr>" + "".join(f'<td class="n">{e(c)}</td>' for c in r) + "</tr>" for r in v["vat"])
        totals = "".join(f'<tr><td>{e(a)}</td><td class="n">{e(b)}</td></tr>' for a, b in v["totals"])
        doc = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{e(v["head"][0])}</title>
        <style>{css.replace("FOOTER", v["footer"].replace('"', "'"))}</style></head><body>
        <div class="top"><div class="seller">{br(v["seller"])}</div>
          <div><h1>{e(v["head"][0])}</h1>{br(v["head"][1:])}</div></div>
        <div class="parties"><div>{br(v["buyer"])}</div><div>{br(v["delivery"])}</div></div>
        <table class="lines"><thead><tr><th>Désignation</th><th>Qté</th><th>PU HT</th><th>TVA</th><th>Total HT</th></tr>
        </thead><tbody>{rows}</tbody></table>
        <div class="summary"><table><tr><th>Taux</th><th>Base HT</th><th>TVA</th></tr>{vat}</table>
          <table>{totals}</table></div>
        <div class="notes">{br(v["notes"])}</div></body></html>"""
        return HTML(string=doc).write_pdf()

    return make


def pages(pdf):
    return pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")


def measure(make, v, iterations):
    make(v)  # warm up: imports, font parsing, caches
    samples = []
    pdf = b""
    for _ in range(iterations):
        t = time.perf_counter()
        pdf = make(v)
        samples.append(time.perf_counter() - t)
    return {"medianMs": statistics.median(samples) * 1000, "bytes": len(pdf), "pages": pages(pdf),
            "iterations": iterations}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--invoice", required=True)
    ap.add_argument("--font", required=True)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--weasyprint-iterations", type=int, default=10)
    ap.add_argument("--keep", help="folder to write one PDF of each peer into, to look at")
    a = ap.parse_args()
    with open(a.invoice, encoding="utf-8") as f:
        v = view(json.load(f))
    import reportlab
    import weasyprint
    out = {"versions": {"reportlab": reportlab.Version, "weasyprint": weasyprint.__version__}}
    for name, maker, n in (("reportlab", reportlab_maker, a.iterations),
                           ("weasyprint", weasyprint_maker, a.weasyprint_iterations)):
        make = maker(a.font)
        out[name] = measure(make, v, n)
        if a.keep:
            with open(f"{a.keep}/{name}-{len(v['rows'])}.pdf", "wb") as f:
                f.write(make(v))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
