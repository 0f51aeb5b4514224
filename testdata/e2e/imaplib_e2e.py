"""End-to-end check of Mailroom's IMAP server with Python's imaplib.

Usage: imaplib_e2e.py HOST PORT USER PASSWORD
Exits 0 when every step behaves as RFC 9051 says; prints the failing step
otherwise. Run by imapd's TestPythonImaplib.
"""
import imaplib
import ssl
import sys
import time

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
imaplib.Commands.setdefault("MOVE", ("SELECTED",))


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


m = imaplib.IMAP4(host, port)
check("STARTTLS" in m.capabilities, "STARTTLS advertised: %r" % (m.capabilities,))
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ok(m.starttls(ctx), "STARTTLS")
ok(m.login(user, password), "LOGIN")
caps = ok(m.capability(), "CAPABILITY")[0].decode().upper().split()
for c in ("IMAP4REV2", "IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE", "ID", "LIST-EXTENDED", "LITERAL+"):
    check(c in caps, "capability %s in %r" % (c, caps))
ok(m._simple_command("ID", '("name" "imaplib")'), "ID")

data = ok(m.list(), "LIST")
names = [line.decode().rsplit(" ", 1)[-1].strip('"') for line in data]
for n in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
    check(n in names, "LIST has %s: %r" % (n, names))
check(any(b"\\Sent" in line for line in data), "LIST marks \\Sent")

ok(m.create("Projects/Mailroom"), "CREATE")
check(m.create("Projects/Mailroom")[0] == "NO", "CREATE twice is NO")
ok(m.subscribe("Projects/Mailroom"), "SUBSCRIBE")
data = ok(m.lsub('""', "Projects/*"), "LSUB")
check(any(b"Projects/Mailroom" in line for line in data), "LSUB lists it: %r" % data)

msgs = []
for i in range(5):
    msg = ("From: Bob <bob@example.test>\r\nTo: %s\r\nSubject: note %d\r\n"
           "Date: Mon, 23 Nov 2026 10:0%d:00 +0000\r\nMessage-ID: <n%d@example.test>\r\n\r\n"
           "Body number %d mentions pineapple%s.\r\n" % (user, i, i, i, i, "s" if i % 2 else ""))
    msgs.append(msg.encode())
    flags = "(\\Seen)" if i < 2 else None
    data = ok(m.append("Projects/Mailroom", flags, imaplib.Time2Internaldate(time.time()), msg.encode()), "APPEND %d" % i)
    check(b"APPENDUID" in data[0], "APPENDUID: %r" % data)

data = ok(m.select("Projects/Mailroom"), "SELECT")
check(data[0] == b"5", "SELECT EXISTS 5: %r" % data)
data = ok(m.fetch("1:*", "(UID FLAGS RFC822.SIZE)"), "FETCH flags")
check(len(data) == 5, "FETCH returns 5: %r" % data)
data = ok(m.fetch("3", "(BODY.PEEK[])"), "FETCH BODY.PEEK[]")
check(data[0][1] == msgs[2], "BODY[] byte-exact: %r" % (data[0][1],))
data = ok(m.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH header fields")
check(data[0][1].strip() == b"Subject: note 2", "HEADER.FIELDS: %r" % (data[0][1],))

check(ok(m.search(None, "UNSEEN"), "SEARCH UNSEEN")[0] == b"3 4 5", "UNSEEN = 3 4 5")
check(ok(m.search(None, "BODY", "pineapples"), "SEARCH BODY")[0] == b"2 4", "BODY pineapples = 2 4")
check(ok(m.uid("SEARCH", None, "SUBJECT", '"note 4"'), "UID SEARCH")[0] == b"5", "UID SEARCH SUBJECT")
check(ok(m.search(None, "OR", "SEEN", "SUBJECT", '"note 4"'), "SEARCH OR")[0] == b"1 2 5", "OR")

data = ok(m.store("3", "+FLAGS", "(\\Flagged $Label1)"), "STORE")
check(b"\\Flagged" in data[0] and b"$Label1" in data[0], "STORE answers flags: %r" % data)
data = ok(m.uid("COPY", "1:2", "Archive"), "UID COPY")
data = ok(m.uid("MOVE", "4", "Trash"), "UID MOVE")
ok(m.store("1", "+FLAGS.SILENT", "(\\Deleted)"), "STORE \\Deleted")
data = ok(m.expunge(), "EXPUNGE")
# imaplib keeps untagged EXPUNGEs across commands: MOVE's "4" comes first.
check(data == [b"4", b"1"], "EXPUNGE after MOVE 4 then 1: %r" % data)
data = ok(m.status("Projects/Mailroom", "(MESSAGES UNSEEN UIDNEXT)"), "STATUS")
check(b"MESSAGES 3" in data[0] and b"UIDNEXT 6" in data[0], "STATUS: %r" % data)
data = ok(m.status("Archive", "(MESSAGES)"), "STATUS Archive")
check(b"MESSAGES 2" in data[0], "Archive has the copies: %r" % data)

ok(m.rename("Projects", '"Old Projects"'), "RENAME")
data = ok(m.list('""', '"Old Projects/*"'), "LIST renamed")
check(any(b"Old Projects/Mailroom" in line for line in data), "children renamed: %r" % data)
ok(m.close(), "CLOSE")
ok(m.delete('"Old Projects/Mailroom"'), "DELETE")
ok(m.delete('"Old Projects"'), "DELETE parent")
typ, _ = m.logout()
check(typ == "BYE", "LOGOUT")

bad = imaplib.IMAP4(host, port)
bad.starttls(ctx)
try:
    bad.login(user, password + "x")
    check(False, "wrong password accepted")
except imaplib.IMAP4.error:
    pass
print("ok")
