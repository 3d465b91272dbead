#!/usr/bin/env python3
"""Independent reference implementation of SecretsPS formats (FORMATS.md §1-§4).

Written only from FORMATS.md and the Fernet spec, on Python's `cryptography` package, so that the
tests can show SecretsPS and another language's implementation read each other's values. It shares
no code with SecretsPS and never calls it.

Plaintexts cross the process boundary hex-encoded (one per line), so no shell, console code page or
newline convention can alter them.

    secretsps_ref.py encrypt --key-file F [--version V]   hex plaintext lines in, stored values out
    secretsps_ref.py decrypt --key-file F [--hex-input]   stored values (or, with --hex-input, hex of their UTF-8) in,
                                                          hex plaintext lines out
    secretsps_ref.py read-sqlite --key-file F --db FILE --table T --column C --key-column K [--expect-version V]
                                                          every row of a SQLite table (Python's sqlite3), in key
                                                          order: "key<TAB>hex plaintext" or "key<TAB>NULL"
    secretsps_ref.py read-mysql --key-file F --port P --database D --table T --column C --key-column K
                                [--host H] [--user U] [--expect-version V]
                                                          the same for a MySQL or MariaDB table (PyMySQL, a read-only
                                                          session; the password, if any, from MYSQL_PWD)
    secretsps_ref.py check-rows --key-file F [--expect-version V]
                                                          the same for "key<TAB>stored value" lines on stdin
                                                          (stored value \\N = NULL), read from any database by
                                                          the caller

read-sqlite, read-mysql and check-rows are "the application's independent reader": they fail (exit 1) if any
non-NULL value does not decrypt or, with --expect-version, is stored under another version; the
message names the row key and the reason, never a value.

Exit status 1 with a message on stderr on any failure. Messages never contain key material, salts,
plaintexts or values.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import os
import re
import sys
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

FERNET_KEY_SIZE = 32
MIN_PBKDF2_ITERATIONS = 1000
MIN_KEY_BYTES = 16
MIN_SALT_BYTES = 8
TOKEN_PREFIX = "gAAAAA"

VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z", re.ASCII)
LINE = re.compile(r"\A([A-Za-z_][A-Za-z0-9_.-]*)=(.*)\Z", re.ASCII)

ACTIVE = "ACTIVE_ENCRYPTION_VERSION"
KEYS = "ENCRYPTION_KEYS__"
SALT = "ENCRYPTION_SALT__"
SALT_HASH = "ENCRYPTION_SALT_HASH__"
KDF = "ENCRYPTION_KDF__"


class RefError(Exception):
    """A failure to report to the user: the message is safe to print."""


# ---------------------------------------------------------------- §1 the key file


def parse_dotenv(text: str) -> dict[str, str]:
    """NAME="value", NAME=value, blank lines and # comments; later lines win."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r").strip()
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if not match:
            raise RefError(f"key file line {number} is not NAME=value")
        name, value = match.group(1), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


def overlay_environment(values: dict[str, str]) -> dict[str, str]:
    """The environment overrides or adds to the file's names (§1)."""
    merged = dict(values)
    for name, value in os.environ.items():
        if name == ACTIVE or any(name.startswith(p) for p in (KEYS, SALT, SALT_HASH, KDF)):
            merged[name] = value
    return merged


def decode_base64(text: str, what: str) -> bytes:
    """Standard base64 (padded) or base64url (padded or not), strictly: no stray characters."""
    body = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", body):
        raise RefError(f"{what} is not base64")
    unpadded = body.rstrip("=")
    if "=" in unpadded or len(unpadded) % 4 == 1:
        raise RefError(f"{what} is not base64")
    standard = unpadded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except binascii.Error as exc:
        raise RefError(f"{what} is not base64") from exc


# ---------------------------------------------------------------- §2 key derivation


def derive_fernet_key(kdf_text: str | None, key: bytes, salt: bytes) -> bytes:
    kdf = (kdf_text or "").strip().lower() or "hkdf-sha256"
    if kdf == "hkdf-sha256":
        return HKDF(algorithm=hashes.SHA256(), length=FERNET_KEY_SIZE, salt=salt, info=None).derive(key)
    if kdf.startswith("pbkdf2-sha256:"):
        digits = kdf[len("pbkdf2-sha256:"):]
        if not digits.isascii() or not digits.isdigit() or int(digits) < MIN_PBKDF2_ITERATIONS:
            raise RefError(f"pbkdf2-sha256 needs at least {MIN_PBKDF2_ITERATIONS} iterations")
        return PBKDF2HMAC(algorithm=hashes.SHA256(), length=FERNET_KEY_SIZE, salt=salt,
                          iterations=int(digits)).derive(key)
    if kdf == "raw":
        if len(key) != FERNET_KEY_SIZE:
            raise RefError(f"kdf 'raw' needs exactly {FERNET_KEY_SIZE} key bytes")
        return key
    raise RefError("unknown key derivation (hkdf-sha256, pbkdf2-sha256:<iterations>, raw)")


@dataclass
class KeyRing:
    active: str
    fernets: dict[str, Fernet]


def load_keyring(path: str, use_environment: bool = True) -> KeyRing:
    with open(path, "r", encoding="utf-8") as handle:
        values = parse_dotenv(handle.read())
    if use_environment:
        values = overlay_environment(values)

    fernets: dict[str, Fernet] = {}
    for name in values:
        if not name.startswith(KEYS):
            continue
        version = name[len(KEYS):]
        if not VERSION_NAME.match(version):
            raise RefError(f"version name {version!r} is not valid")
        key = decode_base64(values[name], f"the key of version {version}")
        if len(key) < MIN_KEY_BYTES:
            raise RefError(f"the key of version {version} is shorter than {MIN_KEY_BYTES} bytes")
        if SALT + version not in values or SALT_HASH + version not in values:
            raise RefError(f"version {version} has no salt or no salt hash")
        salt = decode_base64(values[SALT + version], f"the salt of version {version}")
        if len(salt) < MIN_SALT_BYTES:
            raise RefError(f"the salt of version {version} is shorter than {MIN_SALT_BYTES} bytes")
        if hashlib.sha256(salt).hexdigest() != values[SALT_HASH + version].strip().lower():
            raise RefError(f"Salt integrity check failed for version {version}")
        derived = derive_fernet_key(values.get(KDF + version), key, salt)
        fernets[version] = Fernet(base64.urlsafe_b64encode(derived))

    active = values.get(ACTIVE, "").strip()
    if active not in fernets:
        raise RefError("ACTIVE_ENCRYPTION_VERSION does not name a version in the key file")
    return KeyRing(active=active, fernets=fernets)


# ---------------------------------------------------------------- §3-§4 tokens and stored values


def encrypt_stored(keyring: KeyRing, plaintext: bytes, version: str | None = None) -> str:
    version = version or keyring.active
    if version not in keyring.fernets:
        raise RefError(f"version {version!r} is not in the key file")
    token = keyring.fernets[version].encrypt(plaintext)  # ASCII bytes, base64url with padding
    return f"{version}:{base64.urlsafe_b64encode(token).decode('ascii')}"


def parse_stored(text: str) -> tuple[str, str]:
    """Splits '<version>:<base64url(token)>' (padding optional); returns (version, token text).

    Read as the application reads it (§4): surrounding whitespace is stripped first, with Python's own
    str.strip() (every character for which str.isspace() is true)."""
    version, sep, payload = text.strip().partition(":")
    if not sep or not VERSION_NAME.match(version):
        raise RefError("value has no '<version>:' prefix")
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", payload) or len(payload.rstrip("=")) % 4 == 1:
        raise RefError("value payload is not base64url")
    unpadded = payload.rstrip("=")
    try:
        token = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise RefError("value payload is not base64url of a Fernet token") from exc
    if not token.startswith(TOKEN_PREFIX):
        raise RefError("value payload is not a Fernet token")
    return version, token


def decrypt_stored(keyring: KeyRing, text: str) -> bytes:
    version, token = parse_stored(text)
    if version not in keyring.fernets:
        raise RefError(f"version {version!r} is not in the key file")
    try:
        return keyring.fernets[version].decrypt(token)
    except InvalidToken as exc:
        raise RefError(f"a value of version {version} does not authenticate with its key") from exc


# ---------------------------------------------------------------- command line


def read_lines() -> list[str]:
    data = sys.stdin.buffer.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    return [line.rstrip("\r") for line in lines]


def command_encrypt(args: argparse.Namespace) -> None:
    keyring = load_keyring(args.key_file, not args.ignore_environment)
    out = []
    for number, line in enumerate(read_lines(), start=1):
        try:
            plaintext = bytes.fromhex(line)
        except ValueError as exc:
            raise RefError(f"input line {number} is not hex") from exc
        out.append(encrypt_stored(keyring, plaintext, args.version))
    write_lines(out)


def command_decrypt(args: argparse.Namespace) -> None:
    keyring = load_keyring(args.key_file, not args.ignore_environment)
    out = []
    for number, line in enumerate(read_lines(), start=1):
        try:
            if args.hex_input:
                try:
                    line = bytes.fromhex(line).decode("utf-8")
                except ValueError as exc:
                    raise RefError("not hex of UTF-8 text") from exc
            out.append(decrypt_stored(keyring, line).hex())
        except RefError as exc:
            raise RefError(f"input line {number}: {exc}") from exc
    write_lines(out)


def quote_sqlite_identifier(name: str) -> str:
    """A double-quoted SQLite identifier, embedded quotes doubled: the name is never SQL."""
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise RefError("an identifier is empty or contains a control character")
    return '"' + name.replace('"', '""') + '"'


def check_row(keyring: KeyRing, key: str, stored: str | None, expect_version: str | None) -> str:
    """One row as "key<TAB>hex" (or "key<TAB>NULL"); RefError naming the key, never the value."""
    if stored is None:
        return f"{key}\tNULL"
    try:
        version, _ = parse_stored(stored)
        if expect_version is not None and version != expect_version:
            raise RefError(f"stored under version {version!r}, expected {expect_version!r}")
        plaintext = decrypt_stored(keyring, stored)
    except RefError as exc:
        raise RefError(f"row {key!r}: {exc}") from exc
    return f"{key}\t{plaintext.hex()}"


def command_read_sqlite(args: argparse.Namespace) -> None:
    import sqlite3

    keyring = load_keyring(args.key_file, not args.ignore_environment)
    if not os.path.isfile(args.db):
        raise RefError("the SQLite database file does not exist")
    table = quote_sqlite_identifier(args.table)
    column = quote_sqlite_identifier(args.column)
    key_column = quote_sqlite_identifier(args.key_column)
    # Read-only URI: the reader never changes the database it checks.
    uri = "file:" + args.db.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        rows = connection.execute(f"SELECT {key_column}, {column} FROM {table} ORDER BY {key_column}").fetchall()
    except sqlite3.Error as exc:
        raise RefError(f"cannot read the table: {type(exc).__name__}") from exc
    finally:
        connection.close()
    out = []
    for key, stored in rows:
        if stored is not None and not isinstance(stored, str):
            raise RefError(f"row {str(key)!r}: the value is not text")
        out.append(check_row(keyring, str(key), stored, args.expect_version))
    write_lines(out)


def quote_mysql_identifier(name: str) -> str:
    """A backtick-quoted MySQL identifier, embedded backticks doubled: the name is never SQL."""
    if not name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise RefError("an identifier is empty or contains a control character")
    return "`" + name.replace("`", "``") + "`"


def command_read_mysql(args: argparse.Namespace) -> None:
    import pymysql

    keyring = load_keyring(args.key_file, not args.ignore_environment)
    table = ".".join(quote_mysql_identifier(part) for part in args.table.split(".", 1)) if args.schema_qualified else quote_mysql_identifier(args.table)
    column = quote_mysql_identifier(args.column)
    key_column = quote_mysql_identifier(args.key_column)
    try:
        connection = pymysql.connect(host=args.host, port=args.port, user=args.user, password=os.environ.get("MYSQL_PWD", ""),
                                     database=args.database, charset="utf8mb4")
    except pymysql.Error as exc:
        raise RefError(f"cannot connect: {type(exc).__name__}") from exc
    try:
        with connection.cursor() as cursor:
            # The reader never changes the database it checks.
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute(f"SELECT {key_column}, {column} FROM {table} ORDER BY {key_column}")
            rows = cursor.fetchall()
    except pymysql.Error as exc:
        raise RefError(f"cannot read the table: {type(exc).__name__}") from exc
    finally:
        connection.close()
    out = []
    for key, stored in rows:
        if stored is not None and not isinstance(stored, str):
            raise RefError(f"row {str(key)!r}: the value is not text")
        out.append(check_row(keyring, str(key), stored, args.expect_version))
    write_lines(out)


def command_check_rows(args: argparse.Namespace) -> None:
    keyring = load_keyring(args.key_file, not args.ignore_environment)
    out = []
    for number, line in enumerate(read_lines(), start=1):
        key, sep, stored = line.partition("\t")
        if not sep:
            raise RefError(f"input line {number} is not key<TAB>value")
        out.append(check_row(keyring, key, None if stored == "\\N" else stored, args.expect_version))
    write_lines(out)


def write_lines(lines: list[str]) -> None:
    sys.stdout.buffer.write("".join(line + "\n" for line in lines).encode("utf-8"))
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def key_file_command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--key-file", required=True)
        sub.add_argument("--ignore-environment", action="store_true",
                         help="read the key file alone, without the environment overlay of §1")
        sub.set_defaults(handler=handler)
        return sub

    key_file_command("encrypt", command_encrypt,
                     "hex plaintext lines on stdin -> stored values").add_argument("--version")
    key_file_command("decrypt", command_decrypt, "stored values on stdin -> hex plaintext lines").add_argument(
        "--hex-input", action="store_true",
        help="each stored value arrives hex-encoded (UTF-8), so that any surrounding whitespace survives the line")

    read_sqlite = key_file_command("read-sqlite", command_read_sqlite,
                                   "every row of a SQLite table -> key<TAB>hex plaintext (or NULL) lines")
    read_sqlite.add_argument("--db", required=True)
    read_sqlite.add_argument("--table", required=True)
    read_sqlite.add_argument("--column", required=True)
    read_sqlite.add_argument("--key-column", required=True)
    read_sqlite.add_argument("--expect-version")

    read_mysql = key_file_command("read-mysql", command_read_mysql,
                                  "every row of a MySQL or MariaDB table -> key<TAB>hex plaintext (or NULL) lines")
    read_mysql.add_argument("--host", default="127.0.0.1")
    read_mysql.add_argument("--port", type=int, required=True)
    read_mysql.add_argument("--user", default="root")
    read_mysql.add_argument("--database", required=True)
    read_mysql.add_argument("--table", required=True)
    read_mysql.add_argument("--schema-qualified", action="store_true", help="--table is database.table (split at the first dot)")
    read_mysql.add_argument("--column", required=True)
    read_mysql.add_argument("--key-column", required=True)
    read_mysql.add_argument("--expect-version")

    key_file_command("check-rows", command_check_rows,
                     "key<TAB>stored value lines (\\N = NULL) on stdin -> key<TAB>hex plaintext (or NULL) lines"
                     ).add_argument("--expect-version")

    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (RefError, OSError) as exc:
        print(f"secretsps_ref: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
