package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// enteredSession is the session as go-imap sees it: it tells the layer
// when go-imap hands a command to the session, which it does only once
// it has parsed the whole command. A NO [SERVERBUG] before that is
// go-imap's answer to its own parse error, one after it the session's
// (see serverLine).
type enteredSession struct{ *session }

var (
	_ imapserver.SessionIMAP4rev2      = enteredSession{}
	_ imapserver.SessionAppendLimit    = enteredSession{}
	_ imapserver.SessionUnauthenticate = enteredSession{}
)

func (e enteredSession) enter() {
	if e.ext != nil {
		e.ext.entered.Store(true)
	}
}

func (e enteredSession) Login(username, password string) error {
	e.enter()
	return e.session.Login(username, password)
}

func (e enteredSession) Unauthenticate() error {
	e.enter()
	return e.session.Unauthenticate()
}

func (e enteredSession) Select(name string, opts *imap.SelectOptions) (*imap.SelectData, error) {
	e.enter()
	return e.session.Select(name, opts)
}

func (e enteredSession) Unselect() error {
	e.enter()
	return e.session.Unselect()
}

func (e enteredSession) Create(name string, opts *imap.CreateOptions) error {
	e.enter()
	return e.session.Create(name, opts)
}

func (e enteredSession) Delete(name string) error {
	e.enter()
	return e.session.Delete(name)
}

func (e enteredSession) Rename(from, to string, opts *imap.RenameOptions) error {
	e.enter()
	return e.session.Rename(from, to, opts)
}

func (e enteredSession) Subscribe(name string) error {
	e.enter()
	return e.session.Subscribe(name)
}

func (e enteredSession) Unsubscribe(name string) error {
	e.enter()
	return e.session.Unsubscribe(name)
}

func (e enteredSession) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	e.enter()
	return e.session.List(w, ref, patterns, opts)
}

func (e enteredSession) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	e.enter()
	return e.session.Status(name, opts)
}

func (e enteredSession) Namespace() (*imap.NamespaceData, error) {
	e.enter()
	return e.session.Namespace()
}

func (e enteredSession) Append(name string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	e.enter()
	return e.session.Append(name, r, opts)
}

func (e enteredSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	e.enter()
	return e.session.Expunge(w, uids)
}

func (e enteredSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, opts *imap.SearchOptions) (*imap.SearchData, error) {
	e.enter()
	return e.session.Search(kind, criteria, opts)
}

func (e enteredSession) Fetch(w *imapserver.FetchWriter, set imap.NumSet, opts *imap.FetchOptions) error {
	e.enter()
	return e.session.Fetch(w, set, opts)
}

func (e enteredSession) Store(w *imapserver.FetchWriter, set imap.NumSet, flags *imap.StoreFlags, opts *imap.StoreOptions) error {
	e.enter()
	return e.session.Store(w, set, flags, opts)
}

func (e enteredSession) Copy(set imap.NumSet, dest string) (*imap.CopyData, error) {
	e.enter()
	return e.session.Copy(set, dest)
}

func (e enteredSession) Move(w *imapserver.MoveWriter, set imap.NumSet, dest string) error {
	e.enter()
	return e.session.Move(w, set, dest)
}
