using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using CsCheck;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// How long the property tests run and when a case counts as hung. The normal suite runs a few hundred cases per
/// property; <c>build.ps1 -Task Fuzz</c> sets <see cref="IterationsVariable"/> to a large number for a long run.
/// </summary>
internal static class Fuzz
{
    /// <summary>Cases per property (a positive integer). Unset: <see cref="DefaultIterations"/>.</summary>
    public const string IterationsVariable = "SECRETSPS_FUZZ_ITERATIONS";

    /// <summary>Optional: seconds one case may run before the property fails as hung (default 20).</summary>
    public const string HangSecondsVariable = "SECRETSPS_FUZZ_HANG_SECONDS";

    public const int DefaultIterations = 600;

    /// <summary>A case slower than this fails the property (CsCheck then shrinks it): every parser here is linear and fast.</summary>
    public static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(5);

    public static int Iterations =>
        int.TryParse(Environment.GetEnvironmentVariable(IterationsVariable), out var n) && n > 0 ? n : DefaultIterations;

    public static TimeSpan HangLimit =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable(HangSecondsVariable), out var s) && s > 0 ? s : 20);

    /// <summary>
    /// Runs the property on a worker task and watches every case: one that runs longer than <see cref="HangLimit"/>
    /// fails the test at once with its input (the worker is abandoned, the suite goes on); one slower than
    /// <see cref="SlowCase"/> fails the property like any other counterexample. CsCheck's seed is in the failure
    /// message (replay with the CsCheck_Seed variable).
    /// </summary>
    public static void Property<T>(ITestOutputHelper? output, string name, Gen<T> gen, Action<T> assert, Func<T, string>? print = null)
    {
        print ??= t => Show(t);
        var running = new ConcurrentDictionary<int, (long Start, T Input)>();
        var clock = Stopwatch.StartNew();
        int iterations = Iterations;
        var task = Task.Factory.StartNew(() => gen.Sample(input =>
        {
            int thread = Environment.CurrentManagedThreadId;
            long start = Stopwatch.GetTimestamp();
            running[thread] = (start, input);
            try
            {
                assert(input);
            }
            finally
            {
                running.TryRemove(thread, out _);
            }
            var took = Stopwatch.GetElapsedTime(start);
            if (took > SlowCase) throw new TimeoutException($"one case took {took.TotalSeconds:F1} s (limit {SlowCase.TotalSeconds} s)");
        }, iter: iterations, print: print), TaskCreationOptions.LongRunning);

        var hang = HangLimit;
        while (!task.Wait(TimeSpan.FromMilliseconds(200)))
        {
            foreach (var (_, (start, input)) in running)
            {
                var took = Stopwatch.GetElapsedTime(start);
                if (took > hang)
                    Assert.Fail($"{name}: a case has been running for {took.TotalSeconds:F0} s (hang limit {hang.TotalSeconds} s). Input: {print(input)}");
            }
        }
        task.GetAwaiter().GetResult();
        output?.WriteLine($"{name}: {iterations} cases in {clock.Elapsed.TotalSeconds:F2} s");
    }

    /// <summary>A readable, bounded rendering of an input: length, then the first characters with controls escaped.</summary>
    public static string Show(object? value) => value switch
    {
        null => "null",
        string s => Text(s),
        byte[] b => $"byte[{b.Length}] {Convert.ToHexString(b.AsSpan(0, Math.Min(b.Length, 64)))}{(b.Length > 64 ? "…" : "")}",
        System.Runtime.CompilerServices.ITuple t => "(" + string.Join(", ", Enumerable.Range(0, t.Length).Select(i => Show(t[i]))) + ")",
        _ => value.ToString() ?? "",
    };

    /// <summary>Up to 1,000 characters in full; a longer text as its first 600 and last 300.</summary>
    private static string Text(string s)
    {
        var sb = new StringBuilder().Append("[len ").Append(s.Length).Append("] \"");
        Escape(sb, s.Length > 1000 ? s[..600] : s);
        if (s.Length > 1000) Escape(sb.Append("\" … \""), s[^300..]);
        return sb.Append('"').ToString();
    }

    private static void Escape(StringBuilder sb, string s)
    {
        foreach (char c in s)
        {
            if (c == '"' || c == '\\') sb.Append('\\').Append(c);
            else if (c < ' ' || c > '~') sb.Append($"\\u{(int)c:X4}");
            else sb.Append(c);
        }
    }

    // ------------------------------------------------------------------ generators

    /// <summary>Characters that matter to these parsers: both base64 alphabets, padding, separators, quotes, whitespace, controls, non-ASCII, broken surrogates.</summary>
    public const string Interesting =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=:.#\"' \t\r\n\0\u0085\u00A0\u00E9\u0430\uFEFF\uFF21\u2028\uD800\uDC00\u00FF\u007F%";

    public static readonly Gen<char> InterestingChar = Gen.Char[Interesting];

    /// <summary>Any UTF-16 code unit, and often one of <see cref="Interesting"/>.</summary>
    public static readonly Gen<char> AnyChar = Gen.Frequency((3, InterestingChar), (1, Gen.Char));

    public static Gen<string> Chars(Gen<char> chars, int min, int max) => chars.Array[min, max].Select(a => new string(a));

    /// <summary>Random text: short and long, from the whole range and from the characters the parsers care about.</summary>
    public static readonly Gen<string> RandomText = Gen.Frequency(
        (4, Chars(AnyChar, 0, 40)),
        (3, Chars(Gen.Char["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="], 0, 200)),
        (1, Chars(AnyChar, 0, 2000)),
        (1, Gen.String));

    /// <summary>One edit of a text: what storage, copy-paste and hand editing do to a value.</summary>
    public readonly record struct Mutation(int Kind, int Position, char Char, int Count)
    {
        public override string ToString() => $"{Kinds[Kind]}@{Position}:{Show(Char.ToString())}x{Count}";
    }

    private static readonly string[] Kinds =
    [
        "flip-char-bit", "flip-decoded-bit", "truncate", "insert", "replace", "delete", "insert-run", "duplicate-tail",
        "standard-alphabet", "strip-padding", "add-padding", "swap", "long-run",
    ];

    public static readonly Gen<Mutation> MutationGen = Gen.Select(Gen.Int[0, Kinds.Length - 1], Gen.Int[0, int.MaxValue], AnyChar, Gen.Int[1, 64],
        (k, p, c, n) => new Mutation(k, p, c, n));

    public static readonly Gen<Mutation[]> Mutations = MutationGen.Array[1, 4];

    public static string Apply(string text, Mutation[] mutations)
    {
        foreach (var m in mutations) text = Apply(text, m);
        return text;
    }

    public static string Apply(string s, Mutation m)
    {
        int at = s.Length == 0 ? 0 : m.Position % (s.Length + 1);
        int inside = s.Length == 0 ? 0 : m.Position % s.Length;
        switch (m.Kind)
        {
            case 0: // flip one bit of one character
                if (s.Length == 0) return s;
                return s[..inside] + (char)(s[inside] ^ (1 << (m.Count % 16))) + s[(inside + 1)..];
            case 1: // flip one bit of the decoded bytes and re-encode: a well-formed text whose content changed
            {
                var padded = s.Replace('-', '+').Replace('_', '/');
                padded += new string('=', (4 - padded.Length % 4) % 4);
                var buffer = new byte[padded.Length];
                if (!Convert.TryFromBase64String(padded, buffer, out int written) || written == 0) return s;
                int bit = m.Position % (written * 8);
                buffer[bit / 8] ^= (byte)(1 << (bit % 8));
                var again = Convert.ToBase64String(buffer, 0, written).Replace('+', '-').Replace('/', '_');
                return s.EndsWith('=') ? again : again.TrimEnd('=');
            }
            case 2: return s[..at];
            case 3: return s[..at] + m.Char + s[at..];
            case 4: return s.Length == 0 ? s : s[..inside] + m.Char + s[(inside + 1)..];
            case 5: return s.Length == 0 ? s : s.Remove(inside, 1);
            case 6: return s[..at] + new string(m.Char, m.Count) + s[at..];
            case 7: return s + s[at..];
            case 8: return s.Replace('-', '+').Replace('_', '/');
            case 9: return s.TrimEnd('=');
            case 10: return s + new string('=', 1 + m.Count % 3);
            case 11:
                if (s.Length < 2) return s;
                var chars = s.ToCharArray();
                int other = (inside + 1 + m.Count) % s.Length;
                (chars[inside], chars[other]) = (chars[other], chars[inside]);
                return new string(chars);
            default: // a very long run of one character
                return s[..at] + new string(m.Char, 1000 * m.Count) + s[at..];
        }
    }
}

/// <summary>
/// Property-based tests (CsCheck) of the three parsers that read text from outside the process — the Fernet token,
/// the stored value, the key file — and of the helpers under them. Random and mutated inputs must never crash the
/// process, never hang, and be either parsed or rejected with the documented exception.
/// Cases per property: <c>SECRETSPS_FUZZ_ITERATIONS</c> (default <see cref="Fuzz.DefaultIterations"/>).
/// </summary>
public sealed class FuzzTests
{
    private static readonly byte[] KeyBytes = Enumerable.Range(0, FernetKey.Size).Select(i => (byte)(i * 7 + 3)).ToArray();
    private static readonly byte[] OtherKeyBytes = Enumerable.Range(0, FernetKey.Size).Select(i => (byte)(i * 13 + 1)).ToArray();

    // FernetKey is documented thread-safe; CsCheck samples on every core.
    private static readonly FernetKey Key = new(KeyBytes);
    private static readonly FernetKey OtherKey = new(OtherKeyBytes);

    private readonly ITestOutputHelper _output;

    public FuzzTests(ITestOutputHelper output) => _output = output;

    private void Property<T>(string name, Gen<T> gen, Action<T> assert, Func<T, string>? print = null) =>
        Fuzz.Property(_output, name, gen, assert, print);

    // ------------------------------------------------------------------ the Fernet token

    private static readonly Gen<byte[]> Plaintext = Gen.Frequency((4, Gen.Byte.Array[0, 80]), (1, Gen.Byte.Array[0, 600]));

    /// <summary>A real token of this key: (plaintext, token).</summary>
    private static readonly Gen<(byte[] Plain, string Token)> ValidToken =
        Gen.Select(Plaintext, Gen.Long[0, 1L << 34], Gen.Byte.Array[16],
            (p, ts, iv) => (p, Key.Encrypt(p, ts, iv)));

    /// <summary>
    /// A token built by hand and signed with this key's signing half: any version byte, any timestamp (beyond
    /// long.MaxValue too), and ciphertext that is random (usually bad padding) and of any length.
    /// </summary>
    private static readonly Gen<string> ForgedToken =
        Gen.Select(Gen.Frequency((5, Gen.Const((byte)0x80)), (1, Gen.Byte)), Gen.Frequency((3, Gen.Long[0, 1L << 40].Select(l => (ulong)l)), (1, Gen.ULong)),
            Gen.Byte.Array[16], Gen.Frequency((4, Gen.Int[1, 6].Select(n => n * 16)), (1, Gen.Int[0, 100])), Gen.Bool, Gen.ULong,
            (version, ts, iv, length, signed, fill) =>
            {
                var ciphertext = new byte[length];
                new Random((int)fill).NextBytes(ciphertext);
                var data = new byte[1 + 8 + 16 + length + 32];
                data[0] = version;
                BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(1, 8), ts);
                iv.CopyTo(data, 9);
                ciphertext.CopyTo(data, 25);
                var mac = HMACSHA256.HashData(KeyBytes.AsSpan(0, 16), data.AsSpan(0, data.Length - 32));
                if (signed) mac.CopyTo(data, data.Length - 32);
                return Base64Url.Encode(data);
            });

    private static readonly Gen<(byte[]? Plain, string Token)> AnyToken = Gen.Frequency(
        (2, ValidToken.Select(v => ((byte[]?)v.Plain, v.Token))),
        (5, Gen.Select(ValidToken, Fuzz.Mutations, (v, m) => ((byte[]?)v.Plain, Fuzz.Apply(v.Token, m)))),
        (2, ForgedToken.Select(t => ((byte[]?)null, t))),
        (1, Gen.Select(ForgedToken, Fuzz.Mutations, (t, m) => ((byte[]?)null, Fuzz.Apply(t, m)))),
        (2, Fuzz.RandomText.Select(t => ((byte[]?)null, t))),
        (1, Fuzz.RandomText.Select(t => ((byte[]?)null, "gAAAAA" + t))));

    [Fact]
    public void Fuzz_FernetKey_Decrypt_returns_the_original_plaintext_or_throws_TokenInvalidException_and_nothing_else()
    {
        var ttl = Gen.Frequency((3, Gen.Long[0, TimeSpan.TicksPerDay * 3650]), (1, Gen.Long[0, long.MaxValue])).Select(t => new TimeSpan(t));
        var now = Gen.Long[DateTimeOffset.MinValue.UtcTicks, DateTimeOffset.MaxValue.UtcTicks].Select(t => new DateTimeOffset(t, TimeSpan.Zero));
        Property("Decrypt", Gen.Select(AnyToken, ttl, now), input =>
        {
            var ((plain, token), maxAge, at) = input;
            Accept(plain, () => Key.Decrypt(token));
            Accept(plain, () => Key.Decrypt(token, out _));
            Accept(plain, () => Key.Decrypt(token, maxAge, at));
            // Another key never authenticates it; re-encryption decrypts first, so it fails the same way.
            Accept(null, () => OtherKey.Decrypt(token), mustFail: true);
            try
            {
                var moved = Key.Reencrypt(token, OtherKey);
                if (plain is not null) Assert.Equal(plain, OtherKey.Decrypt(moved));
            }
            catch (TokenInvalidException)
            {
            }
            try { FernetKey.ReadTimestamp(token); }
            catch (TokenInvalidException) { }
        });
    }

    private static void Accept(byte[]? expected, Func<byte[]> decrypt, bool mustFail = false)
    {
        byte[] result;
        try
        {
            result = decrypt();
        }
        catch (TokenInvalidException e)
        {
            Assert.StartsWith("Token", e.ErrorId);
            return;
        }
        Assert.False(mustFail, "a token made with another key was accepted");
        // Whatever was changed in the text, a token that still authenticates holds what was encrypted.
        if (expected is not null) Assert.Equal(expected, result);
    }

    [Fact]
    public void Fuzz_FernetKey_FromBase64Url_returns_a_key_or_throws_SecretsPSException()
    {
        var text = Gen.Frequency(
            (2, Gen.Byte.Array[0, 48].Select(b => Base64Url.Encode(b))),
            (2, Gen.Select(Gen.Byte.Array[32], Fuzz.Mutations, (b, m) => Fuzz.Apply(Base64Url.Encode(b), m))),
            (1, Fuzz.RandomText));
        Property("FernetKey.FromBase64Url", text, t =>
        {
            try
            {
                using var key = FernetKey.FromBase64Url(t);
                var token = key.Encrypt("x"u8);
                Assert.Equal("x"u8.ToArray(), key.Decrypt(token));
            }
            catch (SecretsPSException e) when (e.ErrorId is "FernetKeyMalformed" or "FernetKeyLength")
            {
            }
        });
    }

    // ------------------------------------------------------------------ base64

    [Fact]
    public void Fuzz_Base64Url_TryDecode_never_throws_and_what_it_accepts_encodes_back_to_the_same_bytes()
    {
        var text = Gen.Frequency(
            (2, Gen.Byte.Array[0, 100].Select(b => Base64Url.Encode(b))),
            (3, Gen.Select(Gen.Byte.Array[0, 100], Fuzz.Mutations, (b, m) => Fuzz.Apply(Base64Url.Encode(b), m))),
            (2, Fuzz.RandomText));
        Property("Base64Url.TryDecode", Gen.Select(text, Gen.Bool), input =>
        {
            var (t, optional) = input;
            if (!Base64Url.TryDecode(t, optional, out var bytes)) return;
            Assert.True(Base64Url.IsUrlAlphabet(t.TrimEnd('=')), "accepted a character outside the base64url alphabet");
            Assert.True(Base64Url.TryDecode(Base64Url.Encode(bytes), paddingOptional: false, out var again));
            Assert.Equal(bytes, again);
        });
    }

    [Fact]
    public void Fuzz_KeyMaterialText_TryDecode_never_throws_and_reads_both_alphabets_padded_or_not()
    {
        var bytes = Gen.Byte.Array[0, 64];
        var text = Gen.Frequency(
            (2, bytes.Select(b => Convert.ToBase64String(b))),
            (3, Gen.Select(bytes, Fuzz.Mutations, (b, m) => Fuzz.Apply(Convert.ToBase64String(b), m))),
            (2, Fuzz.RandomText));
        Property("KeyMaterialText.TryDecode", Gen.Select(text, bytes), input =>
        {
            var (t, b) = input;
            var decoded = KeyMaterialText.TryDecode(t);
            if (decoded is { Length: > 0 }) Assert.Equal(decoded, KeyMaterialText.TryDecode(KeyMaterialText.Encode(decoded)));

            // The documented forms of the same bytes all read back as those bytes.
            var standard = Convert.ToBase64String(b);
            var url = standard.Replace('+', '-').Replace('/', '_');
            foreach (var form in new[] { standard, standard.TrimEnd('='), url, url.TrimEnd('='), " " + standard + "\n" })
            {
                if (b.Length == 0) Assert.Null(KeyMaterialText.TryDecode(form));
                else Assert.Equal(b, KeyMaterialText.TryDecode(form));
            }
        });
    }

    // ------------------------------------------------------------------ the stored value

    private static readonly Gen<string> VersionNames = Gen.Frequency(
        (4, Gen.OneOfConst("v1", "v2", "v10", "v2-prod", "release.2025_01", "0", "V")),
        (2, Fuzz.Chars(Gen.Char["abcXYZ0129._-"], 1, 32).Where(VersionName.IsValid)),
        (1, Fuzz.Chars(Fuzz.AnyChar, 0, 40)));

    private static readonly Gen<string> ValidStoredValue =
        Gen.Select(VersionNames.Where(VersionName.IsValid), ValidToken, (v, t) => StoredValue.Create(v, t.Token).ToString());

    private static readonly Gen<string> AnyStoredValue = Gen.Frequency(
        (2, ValidStoredValue),
        (2, ValidStoredValue.Select(v => v.TrimEnd('='))),
        (6, Gen.Select(ValidStoredValue, Fuzz.Mutations, Fuzz.Apply)),
        (2, Gen.Select(VersionNames, Fuzz.RandomText, (v, t) => v + ":" + t)),
        (1, Gen.Select(VersionNames, Fuzz.RandomText, (v, t) => v + ":Z0FBQUFB" + t)),
        (2, Fuzz.RandomText));

    [Fact]
    public void Fuzz_StoredValue_TryParse_never_throws_and_Parse_throws_only_StoredValueMalformed_without_echoing_the_value()
    {
        Property("StoredValue", AnyStoredValue, text =>
        {
            bool ok = StoredValue.TryParse(text, out var value);
            if (ok)
            {
                Assert.True(VersionName.IsValid(value.Version));
                Assert.StartsWith("gAAAAA", value.Token);
                var parsed = StoredValue.Parse(text);
                Assert.Equal((value.Version, value.Token), (parsed.Version, parsed.Token));
                // The canonical (padded) form reads back as the same value.
                var canonical = StoredValue.Parse(value.ToString());
                Assert.Equal((value.Version, value.Token), (canonical.Version, canonical.Token));
                Assert.Equal(value.ToString(), canonical.ToString());
                return;
            }
            var e = Assert.Throws<SecretsPSException>(() => StoredValue.Parse(text));
            Assert.Equal("StoredValueMalformed", e.ErrorId);
            if (text.Length >= 16) Assert.DoesNotContain(text, e.Message);
        });
    }

    [Fact]
    public void Fuzz_KeyRing_Unprotect_returns_the_original_plaintext_or_throws_a_SecretsPSException()
    {
        using var ring = Ring(KeyFileFixture.FileText("v2", KeyFileFixture.Version("v1", 1), KeyFileFixture.Version("v2", 2)));
        var plaintext = Gen.Frequency((4, Fuzz.Chars(Fuzz.AnyChar, 0, 60)), (1, Gen.String));
        var protectedValue = Gen.Select(plaintext, Gen.OneOfConst("v1", "v2"), (p, v) => (Plain: p, Stored: ring.Protect(p, v)));
        var input = Gen.Frequency(
            (2, protectedValue.Select(x => ((string?)x.Plain, x.Stored))),
            (6, Gen.Select(protectedValue, Fuzz.Mutations, (x, m) => ((string?)x.Plain, Fuzz.Apply(x.Stored, m)))),
            (2, AnyStoredValue.Select(s => ((string?)null, s))));
        Property("KeyRing.Unprotect", input, x =>
        {
            var (plain, stored) = x;
            string back;
            try
            {
                back = ring.UnprotectToString(stored);
            }
            catch (SecretsPSException e)
            {
                Assert.Contains(e.ErrorId, new[] { "ValueEmpty", "StoredValueMalformed", "ValueVersionUnknown", "PlaintextNotUtf8" }.Concat(TokenErrors));
                return;
            }
            // A value that still decrypts after being changed holds what was encrypted (lone surrogates aside: UTF-8 replaces them).
            if (plain is not null) Assert.Equal(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(plain)), back);
        });
    }

    private static KeyRing Ring(string keyFileText) =>
        KeySettings.From(KeyFileDocument.Parse(keyFileText), environment: null).BuildKeyRing();

    private static readonly string[] TokenErrors = ["TokenMalformed", "TokenVersionUnsupported", "TokenSignatureInvalid", "TokenPaddingInvalid"];

    // ------------------------------------------------------------------ the key file

    /// <summary>Lines a hand-edited key file can hold; the settings are mostly well-formed so that the loader gets past its first checks.</summary>
    internal static readonly Gen<string> KeyFileText = KeyFileTextGen();

    private static Gen<string> KeyFileTextGen()
    {
        var name = Gen.Frequency((6, Gen.OneOfConst("v1", "v2", "v3", "v2-prod")), (2, VersionNames), (1, Fuzz.Chars(Gen.Char["v1._-:/ \"'=#"], 0, 6)));
        var b64 = Gen.Frequency(
            (6, Gen.Byte.Array[16, 40].Select(b => Convert.ToBase64String(b))),
            (1, Gen.Byte.Array[0, 40].Select(b => Base64Url.Encode(b).TrimEnd('='))),
            (2, Gen.Select(Gen.Byte.Array[0, 40], Fuzz.Mutations, (b, m) => Fuzz.Apply(Convert.ToBase64String(b), m))),
            (1, Fuzz.RandomText));
        var kdf = Gen.Frequency(
            (5, Gen.OneOfConst("hkdf-sha256", "HKDF-SHA256 ", "raw", "pbkdf2-sha256:1000", "pbkdf2-sha256:1500", "")),
            (2, Gen.OneOfConst("pbkdf2-sha256", "pbkdf2-sha256:", "pbkdf2-sha256:999", "pbkdf2-sha256:0001000", "pbkdf2-sha256:-5",
                "pbkdf2-sha256:99999999999999999999", "pbkdf2-sha256:1e6", "pbkdf2-sha256:１０００", "scrypt", "pbkdf2-sha512:1000")),
            (1, Fuzz.RandomText));
        var created = Gen.Frequency(
            (4, Gen.Long[0, 4_000_000_000L].Select(s => KeyVersion.FormatTime(DateTimeOffset.FromUnixTimeSeconds(s)))),
            (2, Gen.OneOfConst("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59Z", "2025-02-30T00:00:00Z",
                "2025-01-14", "14/01/2025", "2025-01-14T12:34:56.1234567890123Z", "")),
            (1, Fuzz.RandomText));
        // One setting line: which name, for which version, with which value and quoting.
        var setting = Gen.Select(Gen.Int[0, 7], name, Gen.Select(b64, kdf, created), Gen.Int[0, 5], (which, v, values, quoting) =>
        {
            var (b, k, c) = values;
            var (n, value) = which switch
            {
                0 => (KeyFileNames.Key(v), b),
                1 => (KeyFileNames.Salt(v), b),
                2 => (KeyFileNames.SaltHash(v), KeyMaterialText.TryDecode(b) is { } salt ? KeyMaterialText.Sha256Hex(salt) : b),
                3 => (KeyFileNames.Kdf(v), k),
                4 => (KeyFileNames.Created(v), c),
                5 => (KeyFileNames.Active, v),
                6 => ("OTHER_SETTING", b),
                _ => ("# comment " + v, ""),
            };
            return quoting switch
            {
                0 or 1 => $"{n}=\"{value}\"",
                2 => $"{n}={value}",
                3 => $"export {n}='{value}'",
                4 => $"  {n} = \"{value}\"  # trailing comment",
                _ => which == 7 ? n : $"{n}=\"{value}",
            };
        });
        // A whole version as the module writes it, so that loading often succeeds and then checks the rest.
        var block = Gen.Select(name, Gen.Byte.Array[16, 40], Gen.Byte.Array[8, 24], kdf, created, Gen.Bool, (v, key, salt, k, c, good) =>
            string.Join("\n",
                KeyFileFixture.Line(KeyFileNames.Key(v), Convert.ToBase64String(key)),
                KeyFileFixture.Line(KeyFileNames.Salt(v), Convert.ToBase64String(salt)),
                KeyFileFixture.Line(KeyFileNames.SaltHash(v), good ? KeyMaterialText.Sha256Hex(salt) : KeyFileFixture.Sha256Hex(key)),
                KeyFileFixture.Line(KeyFileNames.Kdf(v), k),
                KeyFileFixture.Line(KeyFileNames.Created(v), c)));
        var line = Gen.Frequency((4, setting), (3, block), (1, Gen.OneOfConst("", "   ", "# MANTENHA ESTE ARQUIVO SEGURO", "garbage", "=x")), (1, Fuzz.RandomText));
        var file = Gen.Select(line.Array[0, 12], Gen.OneOfConst("\n", "\r\n", "\r"), Gen.Bool, Gen.Bool, (lines, end, bom, final) =>
            (bom ? "\uFEFF" : "") + string.Join(end, lines) + (final ? end : ""));
        return Gen.Frequency((4, file), (3, Gen.Select(file, Fuzz.Mutations, Fuzz.Apply)), (1, Fuzz.RandomText));
    }

    /// <summary>
    /// What <see cref="KeyFileDocument.ToText"/> promises for a parsed file (FORMATS.md §1: UTF-8 without BOM, LF line
    /// ends, a final line end): one leading BOM dropped, each line's CR before its LF dropped, a final LF added; and a BOM
    /// written back only when the first line itself starts with one (a file that began with two), so that it reads the same.
    /// </summary>
    private static string Normalised(string text)
    {
        if (text.StartsWith('\uFEFF')) text = text[1..];
        if (text.Length == 0) return text;
        var lines = text.Split('\n').ToList();
        if (lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        var written = string.Concat(lines.Select(l => (l.EndsWith('\r') ? l[..^1] : l) + "\n"));
        return written.StartsWith('\uFEFF') ? "\uFEFF" + written : written;
    }

    [Fact]
    public void Fuzz_KeyFileDocument_Parse_never_throws_and_writes_back_the_same_text_modulo_BOM_and_CRLF()
    {
        Property("KeyFileDocument", KeyFileText, text =>
        {
            var document = KeyFileDocument.Parse(text);
            var written = document.ToText();
            Assert.Equal(Normalised(text), written);

            // What was read from the written text is what was read from the original. (The text itself is a fixed point only
            // up to the same normalisation: a line that ended in a stray CR before its CRLF is written with CRLF, and the
            // next read drops that CR as well. Assignments trim it, so no setting changes.)
            var again = KeyFileDocument.Parse(written);
            Assert.Equal(Normalised(written), again.ToText());
            Assert.Equal(document.Assignments.ToList(), again.Assignments.ToList());
            foreach (var (name, value, _) in document.Assignments)
            {
                Assert.Equal(document.Get(name), again.Get(name));
                Assert.DoesNotContain('\n', value);
            }
        });
    }

    [Fact]
    public void Fuzz_KeyFileStore_ParseBytes_reads_any_bytes_or_throws_KeyFileNotUtf8()
    {
        var bytes = Gen.Frequency(
            (3, KeyFileText.Select(t => Encoding.UTF8.GetBytes(t))),
            (3, Gen.Select(KeyFileText, Gen.Int[0, int.MaxValue].Array[1, 4], Gen.Byte.Array[1, 4], (t, at, values) =>
            {
                var b = Encoding.UTF8.GetBytes(t);
                if (b.Length == 0) return values;
                for (int i = 0; i < at.Length; i++) b[at[i] % b.Length] = values[i % values.Length];
                return b;
            })),
            (1, Gen.Byte.Array[0, 300]));
        Property("KeyFileStore.ParseBytes", bytes, b =>
        {
            try
            {
                var document = KeyFileStore.ParseBytes(b, "fuzz.env");
                Assert.NotNull(document.ToText());
            }
            catch (KeyFileException e) when (e.ErrorId == "KeyFileNotUtf8")
            {
            }
        });
    }

    private static readonly Gen<Dictionary<string, string>?> EnvironmentOverlay = Gen.Frequency(
        (4, Gen.Const((Dictionary<string, string>?)null)),
        (1, Gen.Select(Gen.OneOfConst(KeyFileNames.Active, KeyFileNames.Key("v1"), KeyFileNames.Salt("v9"), KeyFileNames.SaltHash("v1"),
                    KeyFileNames.Kdf("v2"), KeyFileNames.Created("v1"), "ENCRYPTION_KEYS__", "ENCRYPTION_KEYS__a:b", "PATH"),
                Gen.Frequency((2, Gen.OneOfConst("v1", "v2", "", " ", "raw")), (1, Fuzz.RandomText)), (n, v) => (n, v))
            .Array[1, 4]
            .Select(pairs => (Dictionary<string, string>?)pairs.GroupBy(p => p.n).ToDictionary(g => g.Key, g => g.Last().v))));

    /// <summary>A key file that loads: one to four versions as the module writes them, one of them active, in any order.</summary>
    private static readonly Gen<string> LoadableKeyFile =
        Gen.Select(Gen.Int[1, 4], Gen.Int[0, 3], Gen.OneOfConst("hkdf-sha256", "raw", "pbkdf2-sha256:1000", ""), Gen.Int[0, 1000], Gen.Bool,
            (count, active, kdf, seed, dated) =>
            {
                var versions = Enumerable.Range(1, count)
                    .Select(i => KeyFileFixture.Version("v" + i, seed + i, keyBytes: kdf == "raw" ? 32 : 16 + (seed + i) % 17, saltBytes: 8 + i,
                        kdf: kdf.Length == 0 ? null : kdf, created: dated ? KeyVersion.FormatTime(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000L - i * 86_400)) : null))
                    .ToArray();
                return "# Gerado em 2025-01-14T12:34:56Z\n\n" + KeyFileFixture.FileText("v" + (1 + active % count), versions);
            });

    [Fact]
    public void Fuzz_KeySettings_From_and_BuildKeyRing_build_a_working_ring_or_throw_only_SecretsPSException()
    {
        int built = 0;
        var outcomes = new ConcurrentDictionary<string, int>();
        var files = Gen.Frequency((3, KeyFileText), (1, LoadableKeyFile), (3, Gen.Select(LoadableKeyFile, Fuzz.Mutations, Fuzz.Apply)));
        Property("KeySettings", Gen.Select(files, EnvironmentOverlay), input =>
        {
            var (text, env) = input;
            var settings = KeySettings.From(KeyFileDocument.Parse(text), env);
            KeyRing ring;
            try
            {
                ring = settings.BuildKeyRing("fuzz.env");
            }
            catch (SecretsPSException e)
            {
                outcomes.AddOrUpdate(e.ErrorId, 1, (_, n) => n + 1);
                Assert.False(string.IsNullOrWhiteSpace(e.ErrorId));
                Assert.True(e.Message.Length < 2_000, $"{e.ErrorId}: a message of {e.Message.Length} characters");
                return;
            }
            using (ring)
            {
                Interlocked.Increment(ref built);
                Assert.Equal(settings.ActiveVersion, ring.Active.Name);
                Assert.All(ring.Versions, v => Assert.True(VersionName.IsValid(v.Name)));
                foreach (var version in ring.Versions)
                {
                    // Deriving is the slow part of PBKDF2 by design; the generator keeps its counts small.
                    var stored = ring.Protect("fuzz ção", version.Name);
                    Assert.Equal("fuzz ção", ring.UnprotectToString(stored));
                }
            }
        });
        _output.WriteLine($"rings built: {built}; refused: {string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key} {o.Value}"))}");
    }

    // ------------------------------------------------------------------ names

    [Fact]
    public void Fuzz_VersionName_Validate_accepts_exactly_the_documented_pattern_and_never_echoes_a_long_name()
    {
        var pattern = new System.Text.RegularExpressions.Regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$");
        var names = Gen.Frequency((2, VersionNames), (1, Fuzz.RandomText), (1, Gen.Select(VersionNames, Fuzz.Mutations, Fuzz.Apply)));
        Property("VersionName", names.Array[0, 5], list =>
        {
            foreach (var name in list)
            {
                // \z, not $: $ also matches before a final newline.
                bool documented = pattern.IsMatch(name) && !name.EndsWith('\n');
                Assert.Equal(documented, VersionName.IsValid(name));
                if (documented)
                {
                    VersionName.Validate(name);
                    continue;
                }
                var e = Assert.Throws<SecretsPSException>(() => VersionName.Validate(name));
                Assert.Equal("VersionNameInvalid", e.ErrorId);
                Assert.True(e.Message.Length < 400, $"a message of {e.Message.Length} characters");
            }
            var next = VersionName.Next(list);
            Assert.True(VersionName.IsValid(next), next);
            Assert.DoesNotContain(next, list);
        });
    }
}
