package fts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/whitespace"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"

	"mailroom/store"
)

// MaxCandidates bounds what one lookup returns: a word found in more
// messages than this prunes too little to be worth it, and the caller
// reads the mailbox instead.
const MaxCandidates = 20000

// Index is the full-text index of every mailbox, in its own directory.
type Index struct {
	idx bleve.Index
}

// doc is what is indexed of one message.
type doc struct {
	M string `json:"m"` // mailbox ID
	T string `json:"t"` // decoded header and text
}

// versionKey holds indexVersion, how the index was made; an index of
// another version is deleted and built again from the store (the
// watermarks go with it).
var versionKey = []byte("version")

const indexVersion = "2" // 1: bleve's Unicode tokenizer; 2: Words

// Open opens the index in dir, creating it when missing or of another
// version.
func Open(dir string) (*Index, error) {
	if _, err := os.Stat(filepath.Join(dir, "index_meta.json")); errors.Is(err, fs.ErrNotExist) {
		os.Remove(dir) // an empty directory is no index; anything else is kept and refused below
	}
	idx, err := bleve.OpenUsing(dir, scorchConfig())
	if err == nil {
		if v, verr := idx.GetInternal(versionKey); verr != nil || string(v) != indexVersion {
			idx.Close()
			if err = os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("full-text index %s: removing an old version: %w", dir, err)
			}
			err = bleve.ErrorIndexPathDoesNotExist
		}
	}
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		if idx, err = bleve.NewUsing(dir, newMapping(), bleve.Config.DefaultIndexType, bleve.Config.DefaultKVStore, scorchConfig()); err == nil {
			err = idx.SetInternal(versionKey, []byte(indexVersion))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("full-text index %s: %w", dir, err)
	}
	return &Index{idx: idx}, nil
}

// floorSegmentSize is the size, in messages, below which bleve's merge
// planner counts a segment as that size. Its default, 2,000, counts every
// batch of the indexer (at most batchSize messages) as 2,000, so an index
// of a few thousand live messages is "over budget" all the time and
// merged again and again: under imaptest's stress load (mail appended and
// expunged all the time) merging took a third of the server's CPU, and
// with a floor of 10, 30% more operations per second went through.
const floorSegmentSize = 10

// scorchConfig is the index's runtime configuration: bleve's default
// merge plan but for floorSegmentSize.
func scorchConfig() map[string]any {
	o := mergeplan.DefaultMergePlanOptions
	return map[string]any{"scorchMergePlanOptions": map[string]any{
		"MaxSegmentsPerTier":   o.MaxSegmentsPerTier,
		"MaxSegmentSize":       o.MaxSegmentSize,
		"MaxSegmentFileSize":   o.MaxSegmentFileSize,
		"TierGrowth":           o.TierGrowth,
		"SegmentsPerMergeTask": o.SegmentsPerMergeTask,
		"FloorSegmentSize":     floorSegmentSize,
		"FloorSegmentFileSize": o.FloorSegmentFileSize,
		"ReclaimDeletesWeight": o.ReclaimDeletesWeight,
	}}
}

// newMapping indexes the mailbox as one keyword and the text as the
// words Words makes of it (split before indexing, joined with spaces, so
// the analyzer only splits on those), without stemming or stop words:
// SEARCH matches what was written, and a query is split exactly as the
// text was (bleve's Unicode segmenter kept "3.14" or "don't" whole, so a
// search for "14" missed them, and it cost a seventh of the CPU of a
// delivery).
func newMapping() *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomAnalyzer("words", map[string]any{
		"type":      custom.Name,
		"tokenizer": whitespace.Name,
	}); err != nil {
		panic(err) // a fixed configuration: cannot fail
	}
	text := bleve.NewTextFieldMapping()
	text.Analyzer, text.Store, text.IncludeTermVectors, text.IncludeInAll = "words", false, false, false
	mbox := bleve.NewKeywordFieldMapping()
	mbox.Analyzer, mbox.Store, mbox.IncludeInAll = keyword.Name, false, false
	dm := bleve.NewDocumentStaticMapping()
	dm.AddFieldMappingsAt("t", text)
	dm.AddFieldMappingsAt("m", mbox)
	m.DefaultMapping = dm
	m.DefaultAnalyzer = "words"
	return m
}

// Close closes the index.
func (x *Index) Close() error { return x.idx.Close() }

// Remove deletes an index directory (tests, and a rebuild).
func Remove(dir string) error { return os.RemoveAll(dir) }

func docID(mailbox store.MailboxID, uid store.UID) string {
	return strconv.FormatUint(uint64(mailbox), 36) + "/" + strconv.FormatUint(uint64(uid), 36)
}

func parseDocID(id string) (store.UID, bool) {
	_, u, ok := strings.Cut(id, "/")
	n, err := strconv.ParseUint(u, 36, 32)
	return store.UID(n), ok && err == nil
}

func mailboxTerm(mailbox store.MailboxID) string { return strconv.FormatUint(uint64(mailbox), 36) }

func watermarkKey(mailbox store.MailboxID) []byte { return []byte("w/" + mailboxTerm(mailbox)) }

// Watermark returns the highest UID of mailbox whose message is indexed:
// every message up to it is (or was expunged).
func (x *Index) Watermark(mailbox store.MailboxID) (store.UID, error) {
	v, err := x.idx.GetInternal(watermarkKey(mailbox))
	if err != nil || len(v) == 0 {
		return 0, err
	}
	n, err := strconv.ParseUint(string(v), 10, 32)
	return store.UID(n), err
}

// Words splits a SEARCH string into the words the index holds, lower
// case; none when it has no word characters.
func Words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// Candidates returns the UIDs of mailbox's indexed messages holding every
// word as a word or the start of one, and the watermark up to which the
// answer is complete. ok is false when there are no words, or too many
// messages have them for the index to help.
func (x *Index) Candidates(ctx context.Context, mailbox store.MailboxID, words []string) (uids []store.UID, watermark store.UID, ok bool, err error) {
	if len(words) == 0 {
		return nil, 0, false, nil
	}
	uids, watermark, total, err := x.candidates(ctx, mailbox, words, MaxCandidates+1)
	if err != nil || total > MaxCandidates {
		return nil, watermark, false, err
	}
	return uids, watermark, true, nil
}

// candidates runs the query for mailbox and words (none: every document
// of the mailbox), at most limit hits.
func (x *Index) candidates(ctx context.Context, mailbox store.MailboxID, words []string, limit int) ([]store.UID, store.UID, uint64, error) {
	watermark, err := x.Watermark(mailbox)
	if err != nil {
		return nil, 0, 0, err
	}
	mq := query.NewTermQuery(mailboxTerm(mailbox))
	mq.SetField("m")
	conj := []query.Query{mq}
	for _, w := range words {
		pq := query.NewPrefixQuery(w)
		pq.SetField("t")
		conj = append(conj, pq)
	}
	req := bleve.NewSearchRequestOptions(query.NewConjunctionQuery(conj), limit, 0, false)
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return nil, 0, 0, err
	}
	var uids []store.UID
	for _, h := range res.Hits {
		if u, ok := parseDocID(h.ID); ok {
			uids = append(uids, u)
		}
	}
	return uids, watermark, res.Total, nil
}
