"""Everyday document formats, generated for the tests with the libraries that read them (no binary blobs)."""

from __future__ import annotations

import json
import zipfile
from email.message import EmailMessage
from pathlib import Path


def make_docx(path: Path, facts: dict[str, str] | None = None) -> Path:
    import docx

    doc = docx.Document()
    doc.add_heading("Warranty policy", 1)
    doc.add_paragraph("Every frame is covered against defects for ten years from purchase.")
    doc.add_heading("Fees", 2)
    doc.add_paragraph("The inspection fee for a crash-damaged frame is 45 euros, paid at the café counter.")
    table = doc.add_table(rows=3, cols=2)
    for r, row in enumerate([("Model", "Replacement price"), ("Aero", "900 €"), ("Brisk", "1 250 €")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    doc.add_paragraph("Prices include the fitting in Zürich.")
    for title, text in (facts or {}).items():
        doc.add_heading(title, 1)
        doc.add_paragraph(text)
    doc.save(path)
    return path


def make_pptx(path: Path, extra_slides: int = 0) -> Path:
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Roadmap 2027"
    slide.placeholders[1].text = "The cargo bike launches in March.\nPilot shops: Lyon and Gent."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Battery options"
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Battery", "Range"), ("Compact 400", "60 km"), ("Touring 750", "115 km")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    slide.notes_slide.notes_text_frame.text = "Say that the Touring battery is made in Kraków by Szczęsny Energia."
    for i in range(extra_slides):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Topic {i}"
        slide.placeholders[1].text = f"Point {i}: the quarterly review number {i} covers sales in region {i % 7}."
    deck.save(path)
    return path


def make_xlsx(path: Path, rows: int = 0) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Parts"
    sheet.append(["Part", "Supplier", "Unit cost"])
    sheet.append(["Chain KMC X11", "Müller GmbH", 24.5])
    sheet.append(["Brake pads", "Ærø Cykler", 12])
    for i in range(rows):
        sheet.append([f"Part {i}", f"Supplier {i % 13}", i * 1.25])
    stock = book.create_sheet("Stock 2026")
    stock.append(["Warehouse", "Pallets"])
    stock.append(["Rotterdam", 41])
    stock.append(["Łódź", 17])
    book.save(path)
    return path


def make_odt(path: Path) -> Path:
    content = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.3">
<office:body><office:text>
<text:h text:outline-level="1">Opening hours</text:h>
<text:p>The Gent workshop opens at half past eight.</text:p>
<text:h text:outline-level="2">Holidays</text:h>
<text:p>On Sinterklaas day the workshop closes at noon; Ændrea covers the phone.</text:p>
</office:text></office:body></office:document-content>"""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
    return path


def make_epub(path: Path) -> Path:
    chapter = """<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{t}</title></head>
<body><h1>{t}</h1><p>{p}</p></body></html>"""
    opf = """<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">
<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>
<item id="c2" href="c2.xhtml" media-type="application/xhtml+xml"/></manifest>
<spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>"""
    container = """<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">
<rootfiles><rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", container)
        z.writestr("OEBPS/book.opf", opf)
        z.writestr("OEBPS/c1.xhtml", chapter.format(t="The first ride", p="Anna rode from Utrecht to the sea."))
        z.writestr("OEBPS/c2.xhtml", chapter.format(t="The storm", p="The lighthouse keeper was called Øystein Brekke."))
    return path


def make_ipynb(path: Path) -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Fleet analysis\n", "We count the bikes per depot."]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
         "source": ["depots = {'Nord': 31, 'Süd': 27}\n", "total = sum(depots.values())"]},
        {"cell_type": "markdown", "metadata": {}, "source": "The depot with the most bikes is called Nordhafen Süd."},
    ]
    notebook = {"cells": cells, "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
                "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    return path


def make_eml(path: Path, attachment: bool = False) -> Path:
    message = EmailMessage()
    message["Subject"] = "Delivery of the cargo frames"
    message["From"] = "Renée Dupont <renee@example.org>"
    message["To"] = "workshop@example.org"
    message["Date"] = "Tue, 01 Dec 2026 09:30:00 +0100"
    message.set_content("Hello,\n\nThe cargo frames arrive on Thursday at dock 7.\nPlease sign for them, merci.\n\nRenée\n")
    if attachment:
        message.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf")
    path.write_bytes(bytes(message))
    return path


def make_scanned_pdf(path: Path, text: str = "The spare key is kept in locker 42.") -> Path:
    """A PDF whose only page is an image of ``text`` (no text layer), as a scanner makes."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (1700, 400), 255)
    draw = ImageDraw.Draw(image)
    draw.text((60, 150), text, fill=0, font=ImageFont.load_default(size=64))
    image.save(path, "PDF", resolution=200)
    return path
