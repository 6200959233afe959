#!/usr/bin/env python3
"""Write the seed inputs of each fuzz target into fuzz/corpus/TARGET/.

Seeds are real inputs: the project's and stunnel's example configurations,
ClientHellos that OpenSSL's s_client sends (captured on 127.0.0.1), and the
opening exchanges of each protocol as RFCs and stunnel's peers speak them.
Run once by hand; scripts/fuzz grows the corpus from here."""
import hashlib, os, pathlib, socket, subprocess, threading

ROOT = pathlib.Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"


def put(target, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def configs():
    for folder in [ROOT.parent / "conf", ROOT.parent.parent / "shared" / "conf-examples"]:
        for f in sorted(folder.glob("**/*")):
            if f.is_file():
                put("config", f.read_bytes())


def hello(args):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(5)
    port = srv.getsockname()[1]
    got = {}

    def grab():
        c, _ = srv.accept()
        c.settimeout(1)
        data = b""
        try:
            while len(data) < 16384:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        got["data"] = data
        c.close()

    t = threading.Thread(target=grab)
    t.start()
    subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=10)
    t.join()
    srv.close()
    if got.get("data"):
        put("client_hello", got["data"])


def client_hellos():
    for args in [[], ["-tls1_2"], ["-tls1"], ["-tls1_3"], ["-servername", "a.example"],
                 ["-cipher", "AES128-SHA:@SECLEVEL=0", "-tls1"],
                 ["-cipher", "ALL:@SECLEVEL=0", "-tls1_2"],
                 ["-alpn", "h2,http/1.1"], ["-sess_out", "/dev/null", "-no_ticket"]]:
        hello(args)


# Protocol seeds: kind index (fuzz_targets/protocol.rs KINDS), flags
# (bit 0 client, bits 1-2 auth none/basic/ntlm, bits 3-4 destinations,
# 0x20 protocolHost, 0x40 domain), read size, split point, then bytes.
KIND = {k: i for i, k in enumerate(
    ["cifs", "capwin", "capwinctrl", "connect", "imap", "ldap", "nntp",
     "pgsql", "pop3", "proxy", "smtp", "socks"])}


def proto(kind, flags, local, remote, chunk=0):
    rest = local + remote
    split = 0 if not rest else (len(local) * 255 + len(rest) - 1) // len(rest)
    put("protocol", bytes([KIND[kind], flags, chunk, split]) + rest)


def protocols():
    smtp_server = b"220 mail.example ESMTP\r\n250-mail.example\r\n250-STARTTLS\r\n250 OK\r\n220 Go ahead\r\n"
    proto("smtp", 1, b"", smtp_server)
    proto("smtp", 0, b"EHLO client\r\nSTARTTLS\r\n", b"")
    proto("smtp", 0, b"EHLO x\r\n", b"220 backend ESMTP\r\n250-backend\r\n250 OK\r\n")
    proto("imap", 1, b"", b"* OK IMAP4rev1 ready\r\n. OK CAPABILITY STARTTLS\r\n. OK Begin TLS\r\n")
    proto("imap", 0, b"a CAPABILITY\r\nb STARTTLS\r\n", b"* OK ready\r\n")
    proto("pop3", 1, b"", b"+OK POP3 ready\r\n+OK Begin TLS\r\n")
    proto("pop3", 0, b"CAPA\r\nSTLS\r\n", b"+OK ready\r\n")
    proto("nntp", 1, b"", b"200 news ready\r\n382 Continue with TLS\r\n")
    proto("ldap", 1, b"", bytes.fromhex("300c02010178070a010004000400"))
    proto("pgsql", 1, b"", b"S")
    proto("pgsql", 0, bytes.fromhex("0000000804d2162f"), b"")
    proto("cifs", 1, b"", bytes.fromhex("8300000102"))
    proto("cifs", 0, bytes.fromhex("810000440000"), b"")
    proto("connect", 0, b"CONNECT backend.example:443 HTTP/1.1\r\nHost: backend.example\r\n\r\n", b"")
    proto("connect", 0 | 8, b"CONNECT 192.0.2.1:443 HTTP/1.0\r\n\r\n", b"")
    proto("connect", 0 | 16, b"CONNECT /run/fuzz/admin.sock HTTP/1.0\r\n\r\n", b"")
    proto("connect", 1 | 0x20, b"", b"HTTP/1.0 200 Connection established\r\n\r\n")
    proto("connect", 1 | 0x20 | 2, b"", b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
    # NTLM: a Type 2 challenge with a target info block.
    type2 = (b"NTLMSSP\x00" + (2).to_bytes(4, "little") + (6).to_bytes(2, "little") * 2 +
             (48).to_bytes(4, "little") + (0x00028205).to_bytes(4, "little") + b"\x01" * 8 +
             b"\x00" * 8 + (8).to_bytes(2, "little") * 2 + (54).to_bytes(4, "little") +
             b"D\x00O\x00M\x00" + b"\x02\x00\x00\x00\x00\x00\x00\x00")
    import base64
    proto("connect", 1 | 0x20 | 4 | 0x40, b"",
          b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\n"
          b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM " +
          base64.b64encode(type2) + b"\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
    proto("socks", 0, bytes([5, 1, 0, 5, 1, 0, 1, 192, 0, 2, 1, 1, 187]), b"")
    proto("socks", 0, bytes([5, 1, 0, 5, 1, 0, 3, 11]) + b"example.org" + bytes([1, 187]), b"")
    proto("socks", 0, bytes([5, 1, 0, 5, 0xf0, 0, 3, 11]) + b"example.org" + bytes([0, 0]), b"")
    proto("socks", 0, bytes([4, 1, 1, 187, 192, 0, 2, 1]) + b"user\x00", b"")
    proto("socks", 0, bytes([4, 1, 1, 187, 0, 0, 0, 1]) + b"user\x00example.org\x00", b"")
    proto("socks", 1, b"", bytes([5, 0, 5, 0, 0, 1, 192, 0, 2, 9, 0, 25]))
    proto("proxy", 0, b"", b"")
    # proxyVersion = v2 (flag 0x80); the SNI of its AUTHORITY TLV is the input.
    proto("proxy", 0x80, b"www.example.org", b"")
    proto("capwin", 0, b"", bytes.fromhex("300c02010178070a010004000400"))
    proto("capwinctrl", 0, b"", b"")
    # The same SMTP dialogue delivered one byte per read.
    proto("smtp", 1, b"", smtp_server, chunk=1)


def others():
    put("psk_secrets", b"client1:0123456789abcdef0123456789abcdef\nclient2:a long ASCII secret key\n")
    put("psk_secrets", b"x:short\n")
    put("psk_secrets", b"\n\nid:" + b"A" * 600 + b"\n")
    put("ocsp_http", b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: 5\r\n\r\n0\x03\n\x01\x01")
    put("ocsp_http", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    put("ocsp_http", b"HTTP/1.0 200 OK\r\n\r\n0\x03\n\x01\x06")
    put("ocsp_http", b"http://ocsp.example:8080/path/to?x")
    put("ocsp_http", b"http://[::1]/")
    put("proxy_header", b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n")
    put("proxy_header", b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n")
    put("proxy_header", b"PROXY UNKNOWN\r\n")
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    put("proxy_header", sig + bytes([0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 4, 1, 0xbb]))
    put("proxy_header", sig + bytes([0x20, 0, 0, 0]))
    # What rstunnel's proxyVersion = v2 writes: TLVs after the addresses
    # (AUTHORITY, SSL with sub-TLVs), and LOCAL over UNSPEC with TLVs.
    def tlv(kind, value):
        return bytes([kind]) + len(value).to_bytes(2, "big") + value
    ssl = tlv(0x20, bytes([7, 0, 0, 0, 0]) + tlv(0x21, b"TLSv1.3") +
              tlv(0x23, b"TLS_AES_256_GCM_SHA384") + tlv(0x22, b"client"))
    tlvs = tlv(0x02, b"www.example.org") + ssl
    body = bytes([192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 4, 1, 0xbb]) + tlvs
    put("proxy_header", sig + bytes([0x21, 0x11]) + len(body).to_bytes(2, "big") + body)
    put("proxy_header", sig + bytes([0x20, 0x00]) + len(tlvs).to_bytes(2, "big") + tlvs)


if __name__ == "__main__":
    configs()
    client_hellos()
    protocols()
    others()
    for d in sorted(CORPUS.iterdir()):
        print(d.name, len(list(d.iterdir())))
