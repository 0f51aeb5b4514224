"""Resynchronisation with QRESYNC (RFC 7162) and SORT (RFC 5256) with
Python's imaplib, as a client that keeps a local copy would do them.

Usage: qresync_e2e.py HOST PORT USER PASSWORD
Prints "ok" when every step behaves as the RFCs say; the failing step
otherwise. Run by imapd's TestPythonQresyncSort.
"""
import imaplib
import re
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
imaplib.Commands.setdefault("SORT", ("SELECTED",))


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def session():
    m = imaplib.IMAP4(host, port)
    ok(m.login(user, password), "LOGIN")
    return m


# A first session fills the mailbox and remembers its state.
m = session()
for i, (subj, date) in enumerate([("b", "03-Jan-2024"), ("a", "01-Jan-2024"), ("c", "02-Jan-2024"), ("d", "04-Jan-2024")]):
    msg = ("Subject: %s\r\nDate: %s 10:00:00 +0000\r\n\r\nbody %d\r\n" % (subj, date.replace("-", " "), i)).encode()
    ok(m.append("INBOX", None, None, msg), "APPEND")
ok(m.select("INBOX"), "SELECT")
check(ok(m.sort("(DATE)", "UTF-8", "ALL"), "SORT DATE")[0] == b"2 3 1 4", "SORT (DATE)")
check(ok(m.sort("(REVERSE SUBJECT)", "UTF-8", "ALL"), "SORT SUBJECT")[0] == b"4 3 1 2", "SORT (REVERSE SUBJECT)")
data = ok(m.status("INBOX", "(UIDVALIDITY HIGHESTMODSEQ)"), "STATUS")[0].decode()
uidvalidity = re.search(r"UIDVALIDITY (\d+)", data).group(1)
modseq = re.search(r"HIGHESTMODSEQ (\d+)", data).group(1)
m.logout()

# Meanwhile another client flags one message and expunges another.
o = session()
ok(o.select("INBOX"), "SELECT other")
ok(o.uid("STORE", "3", "+FLAGS", "(\\Flagged)"), "STORE")
ok(o.uid("STORE", "2", "+FLAGS", "(\\Deleted)"), "STORE deleted")
ok(o.expunge(), "EXPUNGE")
o.logout()

# The first client comes back and learns exactly those two changes.
m = session()
check(m.enable("QRESYNC")[0] == "OK", "ENABLE QRESYNC")
typ, data = m._simple_command("SELECT", "INBOX", "(QRESYNC (%s %s))" % (uidvalidity, modseq))
check(typ == "OK", "SELECT QRESYNC: %r" % (data,))
vanished = m.untagged_responses.get("VANISHED", [])
fetches = m.untagged_responses.get("FETCH", [])
check(vanished == [b"(EARLIER) 2"], "VANISHED: %r" % (vanished,))
check(len(fetches) == 1 and re.match(rb"^2 \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$", fetches[0]), "FETCH: %r" % (fetches,))
m.logout()
print("ok")
