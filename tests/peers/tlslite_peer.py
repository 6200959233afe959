"""Old TLS peers emulated with tlslite-ng (pure Python, from PyPI), for the
legacy-TLS tests: it still speaks SSL 3.0, 3DES and RC4, which the
system OpenSSL (and so openssl s_client/s_server) no longer can.

  tlslite_peer.py client PORT PROFILE   handshake with 127.0.0.1:PORT, send
                                        "ping PROFILE\\n", print "OK VERSION
                                        CIPHER" and the echoed line
  tlslite_peer.py server CERT KEY PROFILE
                                        print the port, serve one connection:
                                        echo one line back

Profiles (what the client offers, or the server accepts):
  xp      TLS 1.0 only, RSA key exchange, TLS_RSA_WITH_3DES_EDE_CBC_SHA only
          (Windows XP's SChannel with AES absent)
  rc4     TLS 1.0-1.2, RSA key exchange, RC4 with SHA or MD5 only
  ssl3    SSL 3.0 only, RSA key exchange, 3DES or AES-128 CBC
  ssl3des SSL 3.0 only, RSA key exchange, 3DES only (the old appliance)
A failed handshake prints "FAIL REASON" and exits 1.
"""
import socket
import sys

from tlslite.api import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

PROFILES = {
    "xp": ((3, 1), (3, 1), ["3des"], ["sha"]),
    "rc4": ((3, 1), (3, 3), ["rc4"], ["sha", "md5"]),
    "ssl3": ((3, 0), (3, 0), ["3des", "aes128"], ["sha", "md5"]),
    "ssl3des": ((3, 0), (3, 0), ["3des"], ["sha"]),
}
NAMES = {(3, 0): "SSLv3", (3, 1): "TLSv1", (3, 2): "TLSv1.1", (3, 3): "TLSv1.2"}


def settings(profile):
    low, high, ciphers, macs = PROFILES[profile]
    hs = HandshakeSettings()
    hs.minVersion, hs.maxVersion = low, high
    # The server picks from `versions`, not from the min/max range.
    hs.versions = [v for v in [(3, 3), (3, 2), (3, 1), (3, 0)] if low <= v <= high]
    hs.cipherNames = ciphers
    hs.macNames = macs
    hs.keyExchangeNames = ["rsa"]
    if high == (3, 0):
        # Extended master secret and encrypt-then-MAC are TLS only (RFC
        # 7627, 7366); tlslite-ng's server would agree to them in SSL 3.0
        # and then fail (an assertion, a bad record MAC).
        hs.useExtendedMasterSecret = False
        hs.useEncryptThenMAC = False
    return hs


def echo_line(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.read()
        if not chunk:
            break
        data += chunk
    return data


def client(port, profile):
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=20)
    conn = TLSConnection(sock)
    try:
        conn.handshakeClientCert(settings=settings(profile))
    except Exception as e:  # the refusal is the expected outcome of some tests
        print("FAIL %s: %s" % (type(e).__name__, e), flush=True)
        return 1
    conn.write(("ping %s\n" % profile).encode())
    line = echo_line(conn).decode(errors="replace").strip()
    print("OK %s %s %s" % (NAMES.get(conn.version, conn.version), conn.getCipherName(), line), flush=True)
    conn.close()
    return 0


def server(cert, key, profile):
    chain = X509CertChain()
    chain.parsePemList(open(cert).read())
    private = parsePEMKey(open(key).read(), private=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    print(listener.getsockname()[1], flush=True)
    sock, _ = listener.accept()
    sock.settimeout(20)
    conn = TLSConnection(sock)
    try:
        conn.handshakeServer(certChain=chain, privateKey=private, settings=settings(profile))
    except Exception as e:
        print("FAIL %s: %s" % (type(e).__name__, e), flush=True)
        return 1
    line = echo_line(conn)
    conn.write(line)
    print("OK %s %s" % (NAMES.get(conn.version, conn.version), conn.getCipherName()), flush=True)
    conn.close()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "client":
        sys.exit(client(sys.argv[2], sys.argv[3]))
    sys.exit(server(sys.argv[2], sys.argv[3], sys.argv[4]))
