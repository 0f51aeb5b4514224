package part

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func withAttachment(ctype, disposition string, data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(enc) > 76 {
		lines, enc = append(lines, enc[:76]), enc[76:]
	}
	lines = append(lines, enc)
	return []byte("From: a@example.test\r\nSubject: report\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: " + ctype + "\r\nContent-Disposition: " + disposition + "\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.Join(lines, "\r\n") + "\r\n--b--\r\n")
}

// TestOfficeText: the text of Word, Excel, PowerPoint and OpenDocument
// attachments is part of what SEARCH BODY and the index read, runs of one
// word joined and paragraphs apart; other attachments and broken
// archives add nothing.
func TestOfficeText(t *testing.T) {
	docx := zipOf(t, map[string]string{
		"[Content_Types].xml": `<Types/>`,
		"word/document.xml": `<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>` +
			`<w:p><w:r><w:t>Quar</w:t></w:r><w:r><w:t>terly</w:t></w:r><w:r><w:t xml:space="preserve"> figures</w:t></w:r></w:p>` +
			`<w:p><w:r><w:t>Zürich &amp; Genève</w:t></w:r></w:p></w:body></w:document>`,
		"word/styles.xml": `<w:styles><w:t>notindexed</w:t></w:styles>`,
	})
	xlsx := zipOf(t, map[string]string{"xl/sharedStrings.xml": `<sst><si><t>invoice</t></si><si><t>total</t></si></sst>`, "xl/worksheets/sheet1.xml": `<c><v>0</v></c>`})
	odt := zipOf(t, map[string]string{"content.xml": `<office:document-content><office:body><text:p>meeting<text:s/>minutes</text:p></office:body></office:document-content>`})
	for _, c := range []struct {
		name, ctype, disp string
		data              []byte
		want, not         []string
	}{
		{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "attachment", docx, []string{"Quarterly figures", "Zürich & Genève"}, []string{"notindexed", "Quarterly figuresZürich"}},
		{"docx as octet-stream", "application/octet-stream", `attachment; filename="Report.DOCX"`, docx, []string{"Quarterly figures"}, nil},
		{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "attachment", xlsx, []string{"invoice", "total"}, []string{"invoicetotal"}},
		{"odt", "application/vnd.oasis.opendocument.text", "attachment", odt, []string{"meeting minutes"}, nil},
		{"zip without a known name", "application/zip", `attachment; filename="x.zip"`, docx, nil, []string{"Quarterly"}},
		{"broken docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "attachment", []byte("not a zip"), []string{"See attached."}, []string{"not a zip"}},
	} {
		msg := withAttachment(c.ctype, c.disp, c.data)
		text := string(BodyText(msg, Parse(msg)))
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q missing from %q", c.name, w, text)
			}
		}
		for _, w := range c.not {
			if strings.Contains(text, w) {
				t.Errorf("%s: %q in %q", c.name, w, text)
			}
		}
	}
}

// FuzzOfficeText: whatever an attachment holds, extraction ends within
// its limits.
func FuzzOfficeText(f *testing.F) {
	f.Add(zipOf(f, map[string]string{"word/document.xml": `<w:p><w:t>x</w:t></w:p>`}))
	f.Add([]byte("PK\x03\x04"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := withAttachment("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "attachment", data)
		if out := OfficeText(msg, Parse(msg).Children[1]); len(out) > maxOfficeText {
			t.Fatalf("%d bytes of text", len(out))
		}
	})
}
