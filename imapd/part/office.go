package part

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"mime"
	"path"
	"strings"
)

// Limits of office text extraction: an attachment is a zip archive of
// XML documents, read only so far.
const (
	maxOfficeSize    = 32 << 20 // decoded attachment; larger ones are skipped
	maxOfficeEntries = 500      // XML documents read from one archive
	maxOfficeXML     = 64 << 20 // uncompressed XML read from one archive
	maxOfficeText    = 4 << 20  // text kept from one attachment
)

// officeFormats maps the media types and file-name extensions of the
// office documents whose text is searched to the documents inside their
// archive that hold it: Office Open XML (ECMA-376) and OpenDocument
// (ODF 1.2).
var officeFormats = []struct {
	types []string // subtypes of application/
	ext   string
	parts func(name string) bool
}{
	{[]string{"vnd.openxmlformats-officedocument.wordprocessingml.document"}, ".docx", func(n string) bool {
		return n == "word/document.xml" || strings.HasPrefix(n, "word/header") || strings.HasPrefix(n, "word/footer") || n == "word/footnotes.xml"
	}},
	{[]string{"vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, ".xlsx", func(n string) bool {
		return n == "xl/sharedStrings.xml" // the cells' text; sheets hold numbers and indexes into it
	}},
	{[]string{"vnd.openxmlformats-officedocument.presentationml.presentation"}, ".pptx", func(n string) bool {
		return strings.HasPrefix(n, "ppt/slides/slide") || strings.HasPrefix(n, "ppt/notesSlides/")
	}},
	{[]string{"vnd.oasis.opendocument.text"}, ".odt", isODFContent},
	{[]string{"vnd.oasis.opendocument.spreadsheet"}, ".ods", isODFContent},
	{[]string{"vnd.oasis.opendocument.presentation"}, ".odp", isODFContent},
}

func isODFContent(n string) bool { return n == "content.xml" }

// officeDocs returns which archive members of p hold its text, nil when
// p is not an office document: known by its media type, or by its file
// name when sent as application/octet-stream (as many clients do).
func officeDocs(p *Part) func(string) bool {
	if p.Type != "application" {
		return nil
	}
	name := strings.ToLower(p.Param("name"))
	if v, ok := p.Header.Get("Content-Disposition"); ok {
		if _, params, err := mime.ParseMediaType(v); err == nil && params["filename"] != "" {
			name = strings.ToLower(params["filename"])
		}
	}
	for _, f := range officeFormats {
		for _, t := range f.types {
			if p.Subtype == t {
				return f.parts
			}
		}
		if (p.Subtype == "octet-stream" || p.Subtype == "zip") && path.Ext(name) == f.ext {
			return f.parts
		}
	}
	return nil
}

// OfficeText returns the text of an office document attachment (Word,
// Excel and PowerPoint's XML formats, OpenDocument), nil for any other
// part or one that does not open: what SEARCH BODY and the full-text
// index find in attachments.
func OfficeText(b []byte, p *Part) []byte {
	docs := officeDocs(p)
	if docs == nil || p.End-p.BodyStart > maxOfficeSize*4/3+1024 {
		return nil
	}
	data, err := Decoded(b, p)
	if err != nil || len(data) > maxOfficeSize {
		return nil
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil
	}
	var out bytes.Buffer
	budget := int64(maxOfficeXML)
	read := 0
	for _, f := range zr.File {
		if !docs(f.Name) || read == maxOfficeEntries || budget <= 0 || out.Len() >= maxOfficeText {
			continue
		}
		read++
		rc, err := f.Open()
		if err != nil {
			continue
		}
		lr := &io.LimitedReader{R: rc, N: budget}
		xmlText(lr, &out)
		budget = lr.N
		rc.Close()
	}
	if out.Len() > maxOfficeText {
		out.Truncate(maxOfficeText)
	}
	return out.Bytes()
}

// xmlText appends the character data of an office XML document to out,
// with a space where a paragraph, cell, line break or tab ends (text runs
// inside a paragraph join without one: Word splits words across runs).
func xmlText(r io.Reader, out *bytes.Buffer) {
	d := xml.NewDecoder(r)
	d.Strict = false
	for out.Len() < maxOfficeText {
		tok, err := d.RawToken()
		if err != nil {
			return
		}
		switch t := tok.(type) {
		case xml.CharData:
			out.Write(t)
		case xml.EndElement:
			switch t.Name.Local {
			case "p", "h", "si", "tc", "c", "table-cell", "list-item":
				out.WriteByte('\n')
			}
		case xml.StartElement:
			switch t.Name.Local {
			case "br", "tab", "s", "line-break", "cr":
				out.WriteByte(' ')
			}
		}
	}
}
