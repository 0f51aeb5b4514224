package sieve

// Extensions is every capability this package implements, in the order
// of the SIEVE capability line (RFC 5804 §1.7).
var extensions = []string{
	"fileinto", "reject", "ereject", "envelope", "encoded-character",
	"comparator-i;octet", "comparator-i;ascii-casemap", "comparator-i;ascii-numeric",
	"imap4flags", "copy", "body", "relational", "variables", "subaddress",
	"date", "index", "vacation", "vacation-seconds", "include", "editheader",
	"duplicate", "mailbox",
}

// Capability is the value of ManageSieve's SIEVE capability: every
// extension a script may require, separated by spaces.
func Capability() string {
	s := ""
	for i, e := range extensions {
		if i > 0 {
			s += " "
		}
		s += e
	}
	return s
}

func knownExtension(name string) bool {
	for _, e := range extensions {
		if e == name {
			return true
		}
	}
	return false
}

// valKind is what a tag or positional argument holds.
type valKind int

const (
	vNone   valKind = iota // a tag without a value
	vString                // one string
	vList                  // a string list (a single string is a list of one)
	vNumber
)

type tagSpec struct {
	ext  string // capability the tag needs, "" for none beyond the command's
	val  valKind
	excl string // tags in the same exclusion group conflict
}

type posSpec struct {
	val      valKind
	optional bool // only ever a leading optional argument (setflag, hasflag) or trailing (deleteheader)
}

// cmdSpec describes a command or a test: the capability it needs, its
// tagged and positional arguments, and its tests or block.
type cmdSpec struct {
	ext        string
	tags       map[string]tagSpec
	matching   bool // takes :comparator and a match type
	addrPart   bool // takes :all/:localpart/:domain (and :user/:detail)
	index      bool // takes :index/:last (RFC 5260 §6)
	pos        []posSpec
	tests      int // 0: none; 1: one test; -1: a test list
	block      bool
	isTest     bool
	leadingOpt bool // the optional positional is first (setflag, hasflag)
}

var matchTags = map[string]tagSpec{
	"is":       {excl: "match"},
	"contains": {excl: "match"},
	"matches":  {excl: "match"},
	"count":    {ext: "relational", val: vString, excl: "match"},
	"value":    {ext: "relational", val: vString, excl: "match"},
}

var addrTags = map[string]tagSpec{
	"all":       {excl: "addr"},
	"localpart": {excl: "addr"},
	"domain":    {excl: "addr"},
	"user":      {ext: "subaddress", excl: "addr"},
	"detail":    {ext: "subaddress", excl: "addr"},
}

var commands = map[string]cmdSpec{
	"require": {pos: []posSpec{{val: vList}}},
	"if":      {tests: 1, block: true},
	"elsif":   {tests: 1, block: true},
	"else":    {block: true},
	"stop":    {},
	"keep": {tags: map[string]tagSpec{
		"flags": {ext: "imap4flags", val: vList},
	}},
	"discard": {},
	"fileinto": {ext: "fileinto", tags: map[string]tagSpec{
		"copy":   {ext: "copy"},
		"create": {ext: "mailbox"},
		"flags":  {ext: "imap4flags", val: vList},
	}, pos: []posSpec{{val: vString}}},
	"redirect": {tags: map[string]tagSpec{"copy": {ext: "copy"}}, pos: []posSpec{{val: vString}}},
	"reject":   {ext: "reject", pos: []posSpec{{val: vString}}},
	"ereject":  {ext: "ereject", pos: []posSpec{{val: vString}}},
	"set": {ext: "variables", tags: map[string]tagSpec{
		"lower": {excl: "case"}, "upper": {excl: "case"},
		"lowerfirst": {excl: "first"}, "upperfirst": {excl: "first"},
		"quotewildcard": {}, "length": {},
	}, pos: []posSpec{{val: vString}, {val: vString}}},
	"vacation": {ext: "vacation", tags: map[string]tagSpec{
		"days":      {val: vNumber, excl: "period"},
		"seconds":   {ext: "vacation-seconds", val: vNumber, excl: "period"},
		"subject":   {val: vString},
		"from":      {val: vString},
		"addresses": {val: vList},
		"mime":      {},
		"handle":    {val: vString},
	}, pos: []posSpec{{val: vString}}},
	"setflag":    {ext: "imap4flags", pos: []posSpec{{val: vString, optional: true}, {val: vList}}, leadingOpt: true},
	"addflag":    {ext: "imap4flags", pos: []posSpec{{val: vString, optional: true}, {val: vList}}, leadingOpt: true},
	"removeflag": {ext: "imap4flags", pos: []posSpec{{val: vString, optional: true}, {val: vList}}, leadingOpt: true},
	"include": {ext: "include", tags: map[string]tagSpec{
		"personal": {excl: "loc"}, "global": {excl: "loc"}, "once": {}, "optional": {},
	}, pos: []posSpec{{val: vString}}},
	"return":    {ext: "include"},
	"global":    {ext: "include", pos: []posSpec{{val: vList}}},
	"addheader": {ext: "editheader", tags: map[string]tagSpec{"last": {}}, pos: []posSpec{{val: vString}, {val: vString}}},
	"deleteheader": {ext: "editheader", matching: true, index: true,
		pos: []posSpec{{val: vString}, {val: vList, optional: true}}},
}

var tests = map[string]cmdSpec{
	"address":  {isTest: true, matching: true, addrPart: true, index: true, pos: []posSpec{{val: vList}, {val: vList}}},
	"envelope": {isTest: true, ext: "envelope", matching: true, addrPart: true, pos: []posSpec{{val: vList}, {val: vList}}},
	"header":   {isTest: true, matching: true, index: true, pos: []posSpec{{val: vList}, {val: vList}}},
	"exists":   {isTest: true, pos: []posSpec{{val: vList}}},
	"size": {isTest: true, tags: map[string]tagSpec{
		"over": {excl: "size"}, "under": {excl: "size"},
	}, pos: []posSpec{{val: vNumber}}},
	"true":  {isTest: true},
	"false": {isTest: true},
	"not":   {isTest: true, tests: 1},
	"allof": {isTest: true, tests: -1},
	"anyof": {isTest: true, tests: -1},
	"body": {isTest: true, ext: "body", matching: true, tags: map[string]tagSpec{
		"raw": {excl: "transform"}, "content": {val: vList, excl: "transform"}, "text": {excl: "transform"},
	}, pos: []posSpec{{val: vList}}},
	"string":  {isTest: true, ext: "variables", matching: true, pos: []posSpec{{val: vList}, {val: vList}}},
	"hasflag": {isTest: true, ext: "imap4flags", matching: true, pos: []posSpec{{val: vList, optional: true}, {val: vList}}, leadingOpt: true},
	"date": {isTest: true, ext: "date", matching: true, index: true, tags: map[string]tagSpec{
		"zone": {val: vString, excl: "zone"}, "originalzone": {excl: "zone"},
	}, pos: []posSpec{{val: vString}, {val: vString}, {val: vList}}},
	"currentdate": {isTest: true, ext: "date", matching: true, tags: map[string]tagSpec{
		"zone": {val: vString},
	}, pos: []posSpec{{val: vString}, {val: vList}}},
	"mailboxexists": {isTest: true, ext: "mailbox", pos: []posSpec{{val: vList}}},
	"duplicate": {isTest: true, ext: "duplicate", tags: map[string]tagSpec{
		"handle": {val: vString}, "header": {val: vString, excl: "id"}, "uniqueid": {val: vString, excl: "id"},
		"seconds": {val: vNumber}, "last": {},
	}},
}
