using System.Security.Cryptography;
using System.Text;
using CsCheck;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;
using Xunit.Abstractions;

namespace SecretsPS.Core.Tests;

/// <summary>
/// FORMATS.md §4: what the application accepts is wider than what the module writes. The application decrypts a stored
/// value after Python's <c>value.strip()</c> and without its padding; so a value it reads is ciphertext, whatever its
/// whitespace, and -EncryptPlaintext encrypts only what has no <c>&lt;known version&gt;:</c> prefix at all.
/// </summary>
public sealed class ValueTransformerApplicationReadingTests : IDisposable
{
    private static readonly DateTimeOffset Stamp = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
    private const string Plaintext = "JBSWY3DPEHPK3PXP";

    private readonly ITestOutputHelper _output;
    private readonly TestKeys _keys = TestKeys.Create("v1", "v2", "v3");
    private readonly TestKeys _stranger = TestKeys.Create("v7");

    public ValueTransformerApplicationReadingTests(ITestOutputHelper output) => _output = output;

    public void Dispose()
    {
        _keys.Dispose();
        _stranger.Dispose();
    }

    private ValueTransformer Transformer(bool encryptPlaintext, string target = "v2") =>
        new(_keys.Ring, _keys.Ring.Get(target), encryptPlaintext, maxLength: null);

    /// <summary>What storage, drivers and hand edits leave around a value, every one of which the application strips.</summary>
    public static TheoryData<string, bool> WhitespaceVariants()
    {
        var data = new TheoryData<string, bool>();
        foreach (var variant in new[] { "trailing LF", "trailing space", "trailing CRLF", "leading tab", "NBSP both ends", "leading x1C", "trailing x1F",
                     "trailing x85 and U+3000", "leading U+2028", "no padding", "no padding and trailing LF" })
        {
            data.Add(variant, false);
            data.Add(variant, true);
        }
        return data;
    }

    private static string Apply(string variant, string value) => variant switch
    {
        "trailing LF" => value + "\n",
        "trailing space" => value + " ",
        "trailing CRLF" => value + "\r\n",
        "leading tab" => "\t" + value,
        "NBSP both ends" => "\u00A0" + value + "\u00A0",
        "leading x1C" => "\u001C" + value,
        "trailing x1F" => value + "\u001F",
        "trailing x85 and U+3000" => value + "\u0085\u3000",
        "leading U+2028" => "\u2028" + value,
        "no padding" => value.TrimEnd('='),
        "no padding and trailing LF" => value.TrimEnd('=') + "\n",
        _ => throw new ArgumentOutOfRangeException(nameof(variant)),
    };

    // ------------------------------------------------------------------ the whitespace set

    [Fact]
    public void The_application_whitespace_is_dotnets_whitespace_plus_the_four_information_separators()
    {
        var differences = Enumerable.Range(0, 0x10000).Select(c => (char)c)
            .Where(c => char.IsWhiteSpace(c) != ApplicationWhitespace.IsWhiteSpace(c)).Select(c => (int)c).ToArray();

        Assert.Equal([0x1C, 0x1D, 0x1E, 0x1F], differences);
        Assert.Equal(29, ApplicationWhitespace.Characters.Length);
        Assert.Equal(ApplicationWhitespace.Characters, new string(ApplicationWhitespace.Characters.Order().ToArray()));
    }

    [Fact]
    public void The_application_whitespace_is_exactly_what_Pythons_str_strip_removes()
    {
        if (IndependentReader.Unavailable is { } reason)
        {
            _output.WriteLine($"NOT RUN (Python): {reason}");
            return;
        }

        Assert.Equal(ApplicationWhitespace.Characters, IndependentReader.PythonWhitespace());
    }

    [Theory]
    [InlineData("", "")]
    [InlineData(" \t\n", "")]
    [InlineData("\u001Cv1:abc\u001F", "v1:abc")]
    [InlineData("\u200Bv1:abc\uFEFF", "\u200Bv1:abc\uFEFF")] // zero-width space and BOM: not whitespace to Python
    [InlineData(" a b ", "a b")]
    public void Trim_strips_only_the_application_whitespace_at_both_ends(string text, string expected)
    {
        Assert.Equal(expected, ApplicationWhitespace.Trim(text));
        Assert.Equal(expected, ApplicationWhitespace.Trim(text.AsSpan()).ToString());
    }

    [Fact]
    public void Trim_returns_the_same_string_when_there_is_nothing_to_strip()
    {
        var value = _keys.ProtectAt(Plaintext, "v1", Stamp);
        Assert.Same(value, ApplicationWhitespace.Trim(value));
    }

    [Fact]
    public void TryParseAsApplication_reads_what_the_application_reads_and_TryParse_stays_strict()
    {
        var value = _keys.ProtectAt(Plaintext, "v1", Stamp);
        var wrapped = "\u001C " + value.TrimEnd('=') + "\r\n";

        Assert.False(StoredValue.TryParse(wrapped, out _));
        Assert.True(StoredValue.TryParseAsApplication(wrapped, out var read));
        Assert.Equal(value, read.ToString());
        Assert.False(StoredValue.TryParseAsApplication(null, out _));
        Assert.False(StoredValue.TryParseAsApplication(" \n ", out _));
        Assert.False(StoredValue.TryParseAsApplication("\u200B" + value, out _));
    }

    // ------------------------------------------------------------------ values the application reads

    [Theory]
    [MemberData(nameof(WhitespaceVariants))]
    public void An_older_value_with_surrounding_whitespace_or_no_padding_moves_to_the_target_in_canonical_form(string variant, bool encryptPlaintext)
    {
        var transformer = Transformer(encryptPlaintext);
        var moved = new List<string>();
        // 0 and 40 characters take the quick path, 3000 the general one (its payload is too long for the stack).
        foreach (var plaintext in new[] { "", Plaintext + "é", new string('x', 3000) })
        {
            var value = Apply(variant, _keys.ProtectAt(plaintext, "v1", Stamp));

            var outcome = transformer.Transform(value, out var newValue, out var reason);

            Assert.Equal((RowOutcome.Reencrypted, (RowError?)null), (outcome, reason));
            Assert.True(StoredValue.TryParse(newValue, out var stored), "the new value is not in the strict, canonical form");
            Assert.Equal(("v2", newValue), (stored.Version, stored.ToString()));
            Assert.Equal(plaintext, Encoding.UTF8.GetString(_keys.Ring.Get("v2").FernetKey.Decrypt(stored.Token, out long timestamp)));
            Assert.Equal(Stamp.ToUnixTimeSeconds(), timestamp);
            Assert.Equal(plaintext, _keys.Ring.UnprotectToString(newValue));
            moved.Add(newValue!);
        }

        if (IndependentReader.Unavailable is { } reason2)
        {
            _output.WriteLine($"NOT RUN (Python reader): {reason2}; the C# checks ran.");
            return;
        }
        var python = IndependentReader.Decrypt(_keys, moved);
        Assert.Equal(new[] { "", Plaintext + "é", new string('x', 3000) }, python.Select(b => Encoding.UTF8.GetString(b)));
    }

    [Theory]
    [MemberData(nameof(WhitespaceVariants))]
    public void A_value_at_or_beyond_the_target_is_left_as_it_is_even_when_not_canonical(string variant, bool encryptPlaintext)
    {
        var transformer = Transformer(encryptPlaintext);
        var left = new List<string>();
        foreach (var version in new[] { "v2", "v3" })
        {
            var value = Apply(variant, _keys.ProtectAt(Plaintext, version, Stamp));

            var outcome = transformer.Transform(value, out var newValue, out var reason);

            // The application reads it as it is (and the column count trims the same characters): rewriting it only churns.
            Assert.Equal((RowOutcome.AlreadyAtTarget, (string?)null, (RowError?)null), (outcome, newValue, reason));
            left.Add(value);
        }

        if (IndependentReader.Unavailable is not null) return;
        Assert.All(IndependentReader.Decrypt(_keys, left), b => Assert.Equal(Plaintext, Encoding.UTF8.GetString(b)));
    }

    [Fact]
    public void The_python_reader_strips_what_the_application_strips()
    {
        if (IndependentReader.Unavailable is { } reason)
        {
            _output.WriteLine($"NOT RUN (Python reader): {reason}");
            return;
        }
        var value = _keys.ProtectAt(Plaintext, "v1", Stamp);
        var variants = WhitespaceVariants().Select(row => Apply((string)row[0], value)).Distinct().ToList();

        Assert.All(IndependentReader.Decrypt(_keys, variants), b => Assert.Equal(Plaintext, Encoding.UTF8.GetString(b)));
    }

    // ------------------------------------------------------------------ damaged ciphertext is never plaintext

    public static TheoryData<string> DamagedKinds() => new() { "garbage", "empty payload", "tampered token", "junk inside", "junk after",
        "NUL after", "cut short", "whitespace inside", "standard alphabet", "garbage with whitespace around" };

    private string Damage(string kind)
    {
        var value = _keys.ProtectAt(Plaintext, "v1", Stamp);
        var payload = value[3..];
        return kind switch
        {
            "garbage" => "v1:garbage",
            "empty payload" => "v1:",
            "tampered token" => "v1:" + TamperToken(payload),
            "junk inside" => "v1:" + payload[..20] + "!?" + payload[20..],
            "junk after" => value + "junk!",
            "NUL after" => value + "\0",
            "cut short" => value[..^7],
            "whitespace inside" => "v1:" + payload[..20] + " \n" + payload[20..],
            "standard alphabet" => "v1:" + payload.Replace('-', '+').Replace('_', '/') + "+/",
            "garbage with whitespace around" => " v1:not base64 at all\n",
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    // A well-formed stored value whose token no longer authenticates: one bit of the token's ciphertext flipped.
    private static string TamperToken(string payload)
    {
        var token = Encoding.ASCII.GetString(Convert.FromBase64String(payload.Replace('-', '+').Replace('_', '/')));
        var bytes = Convert.FromBase64String(token.Replace('-', '+').Replace('_', '/'));
        bytes[40] ^= 1;
        var tampered = Convert.ToBase64String(bytes).Replace('+', '-').Replace('/', '_');
        return Convert.ToBase64String(Encoding.ASCII.GetBytes(tampered)).Replace('+', '-').Replace('/', '_');
    }

    [Theory]
    [MemberData(nameof(DamagedKinds))]
    public void A_damaged_value_under_a_known_version_is_a_row_error_and_never_encrypted_as_plaintext(string kind)
    {
        var damaged = Damage(kind);
        foreach (var encryptPlaintext in new[] { false, true })
        {
            var outcome = Transformer(encryptPlaintext).Transform(damaged, out var newValue, out var reason);

            Assert.Equal(RowOutcome.Failed, outcome);
            Assert.Null(newValue);
            Assert.Contains(reason!.ErrorId, new[] { ValueTransformer.CiphertextDamaged, "TokenSignatureInvalid", "TokenMalformed" });
            Assert.DoesNotContain(Plaintext, reason.ToString());
            if (damaged.Length > 8) Assert.DoesNotContain(damaged.Trim(), reason.ToString());
        }
    }

    [Fact]
    public void A_tampered_token_says_its_signature_is_invalid_and_a_payload_that_is_no_token_says_the_ciphertext_is_damaged()
    {
        var transformer = Transformer(encryptPlaintext: true);
        transformer.Transform(Damage("tampered token"), out _, out var tampered);
        transformer.Transform(Damage("garbage"), out _, out var garbage);

        Assert.Equal("TokenSignatureInvalid", tampered!.ErrorId);
        Assert.Equal(ValueTransformer.CiphertextDamaged, garbage!.ErrorId);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_well_formed_value_under_a_version_the_key_file_lacks_is_an_error_never_buried_under_a_new_encryption(bool encryptPlaintext)
    {
        var lost = _stranger.ProtectAt(Plaintext, "v7", Stamp);
        var transformer = Transformer(encryptPlaintext);

        foreach (var value in new[] { lost, lost.TrimEnd('=') + "\n" })
        {
            var outcome = transformer.Transform(value, out var newValue, out var reason);
            Assert.Equal((RowOutcome.Failed, (string?)null, "ValueVersionUnknown"), (outcome, newValue, reason!.ErrorId));
        }

        // A valid version name the ring lacks, however unlike a version it looks: the same.
        var https = transformer.Transform("https" + lost[2..], out var httpsValue, out var httpsReason);
        Assert.Equal((RowOutcome.Failed, (string?)null, "ValueVersionUnknown"), (https, httpsValue, httpsReason!.ErrorId));

        // A token after a prefix that is no version name at all (a damaged version), or a damaged token after an unknown
        // version: someone's ciphertext as well.
        foreach (var value in new[] { "v 7" + lost[2..], "v1 " + lost[2..], "v1\u00E9" + lost[2..], lost + "junk", "v7:" + lost[3..40] + "\u200B" })
        {
            var outcome = transformer.Transform(value, out var newValue, out var reason);
            Assert.Equal((RowOutcome.Failed, (string?)null, ValueTransformer.CiphertextDamaged), (outcome, newValue, reason!.ErrorId));
        }
    }

    // ------------------------------------------------------------------ plaintext

    [Theory]
    [InlineData("hello")]
    [InlineData("https://x:y")]
    [InlineData("notaversion:abc")]
    [InlineData("user:secret")]
    [InlineData("V1:case differs from the ring's v1")]
    [InlineData("v1")]
    [InlineData(":v1:leading colon")]
    [InlineData("  plaintext with its own whitespace\n")]
    [InlineData("gAAAAABbare-fernet-token-text")]
    public void A_value_without_a_known_version_prefix_is_encrypted_as_it_is_under_EncryptPlaintext_and_refused_without(string plaintext)
    {
        var outcome = Transformer(encryptPlaintext: true).Transform(plaintext, out var newValue, out var reason);

        Assert.Equal((RowOutcome.Reencrypted, (RowError?)null), (outcome, reason));
        Assert.StartsWith("v2:", newValue);
        Assert.Equal(plaintext, _keys.Ring.UnprotectToString(newValue));

        outcome = Transformer(encryptPlaintext: false).Transform(plaintext, out newValue, out reason);

        Assert.Equal((RowOutcome.Failed, (string?)null, "NotCiphertext"), (outcome, newValue, reason!.ErrorId));
    }

    // ------------------------------------------------------------------ the cost of the common case

    [Fact]
    public void A_canonical_older_value_costs_no_more_allocation_than_before_the_whitespace_check()
    {
        var transformer = Transformer(encryptPlaintext: false);
        var value = _keys.ProtectAt(Plaintext, "v1", Stamp);
        var wrapped = value + "\n";
        for (int i = 0; i < 3; i++)
        {
            transformer.Transform(value, out _, out _);
            transformer.Transform(wrapped, out _, out _);
        }

        long Allocated(string v)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            transformer.Transform(v, out var moved, out _);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.NotNull(moved);
            return after - before;
        }

        long canonical = Allocated(value);
        long withWhitespace = Allocated(wrapped);
        // The quick path makes one string (the result) for either: trimming is a slice, never a copy.
        long resultBytes = 24 + 2L * value.Replace("v1:", "v2:").Length;
        _output.WriteLine($"canonical: {canonical} B, with a trailing LF: {withWhitespace} B, the result string: ~{resultBytes} B");
        Assert.Equal(canonical, withWhitespace);
        Assert.InRange(canonical, 0, resultBytes + 64);
    }

    // ------------------------------------------------------------------ the property

    private enum Kind { Older, AtTarget, Newer, Unknown, Stranger, Damaged, Plaintext, PrefixedPlaintext }

    private sealed record Case(Kind Kind, string Value)
    {
        public override string ToString() => $"{Kind} {Fuzz.Show(Value)}";
    }

    private static readonly Gen<string> Whitespace = Gen.Frequency(
        (6, Gen.Const("")),
        (4, Fuzz.Chars(Gen.Char[ApplicationWhitespace.Characters], 1, 3)),
        // Characters that look like whitespace to someone but not to Python: the application does not read through them.
        (1, Fuzz.Chars(Gen.Char["\u200B\uFEFF\u180E\u0000 "], 1, 2)));

    private Gen<Case> Cases()
    {
        var plain = Gen.Frequency((4, Fuzz.Chars(Fuzz.AnyChar, 0, 60)), (1, Gen.String));
        Gen<string> At(TestKeys keys, string version) => plain.Select(p => keys.ProtectAt(p, version, Stamp));
        var wellFormed = Gen.Frequency(
            (3, At(_keys, "v1").Select(v => (Kind.Older, v))),
            (1, At(_keys, "v2").Select(v => (Kind.AtTarget, v))),
            (1, At(_keys, "v3").Select(v => (Kind.Newer, v))),
            (1, At(_stranger, "v7").Select(v => (Kind.Unknown, v))),
            // Signed by another key under one of this ring's version names.
            (1, plain.Select(p => (Kind.Stranger, "v1:" + Base64Url.Encode(Encoding.ASCII.GetBytes(
                _stranger.Ring.Get("v7").FernetKey.Encrypt(Encoding.UTF8.GetBytes(p), Stamp.ToUnixTimeSeconds(), RandomNumberGenerator.GetBytes(16))))))));
        var shaped = Gen.Select(wellFormed, Gen.Bool, (x, unpadded) => (x.Item1, unpadded ? x.Item2.TrimEnd('=') : x.Item2));
        var value = Gen.Frequency(
            (6, shaped),
            (4, Gen.Select(shaped, Fuzz.Mutations, (x, m) => (Kind.Damaged, Fuzz.Apply(x.Item2, m)))),
            (2, Fuzz.RandomText.Select(t => (Kind.Plaintext, t))),
            (2, Gen.Select(Gen.OneOfConst("v1", "v2", "v3", "v7", "V1", "https", "user", " v1", "v1 "), Fuzz.RandomText,
                (p, t) => (Kind.PrefixedPlaintext, p + ":" + t))));
        return Gen.Select(value, Whitespace, Whitespace, (x, before, after) => new Case(x.Item1, before + x.Item2 + after));
    }

    /// <summary>The application's reading, built here from the strict reader on the text Python's strip() leaves.</summary>
    private byte[]? ApplicationDecrypts(string value)
    {
        var stripped = value.Trim(PythonStrip);
        try
        {
            return _keys.Ring.Unprotect(stripped);
        }
        catch (SecretsPSException)
        {
            return null;
        }
    }

    // Written out here rather than taken from the library, so that the property does not check the library against itself.
    private static readonly char[] PythonStrip =
    [
        '\t', '\n', '\v', '\f', '\r', '\u001C', '\u001D', '\u001E', '\u001F', ' ', '\u0085', '\u00A0', '\u1680',
        '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200A',
        '\u2028', '\u2029', '\u202F', '\u205F', '\u3000',
    ];

    private bool HasKnownVersionPrefix(string value)
    {
        var stripped = value.Trim(PythonStrip);
        int colon = stripped.IndexOf(':');
        return colon > 0 && _keys.Ring.Versions.Any(v => v.Name == stripped[..colon]);
    }

    [Fact]
    public void Fuzz_what_the_application_read_before_it_reads_after_and_nothing_with_a_known_version_is_encrypted_as_plaintext()
    {
        var plain = Transformer(encryptPlaintext: false);
        var migrate = Transformer(encryptPlaintext: true);
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        Fuzz.Property(_output, "ValueTransformer (application reading)", Cases(), c =>
        {
            var before = ApplicationDecrypts(c.Value);
            var knownPrefix = HasKnownVersionPrefix(c.Value);
            var wrapped = c.Value.Length > 0 && (char.IsWhiteSpace(c.Value[0]) || char.IsWhiteSpace(c.Value[^1]) || c.Value[0] < ' ' || c.Value[^1] < ' ');
            plain.Transform(c.Value, out _, out var plainReason);
            migrate.Transform(c.Value, out _, out var migrateReason);
            seen.AddOrUpdate($"{(before is null ? "unreadable" : "readable")}{(wrapped ? " wrapped" : "")}{(knownPrefix ? " known-prefix" : "")} " +
                $"{plainReason?.ErrorId ?? "-"}/{migrateReason?.ErrorId ?? "-"}", 1, (_, n) => n + 1);
            var outcomes = new List<RowOutcome>();
            foreach (var transformer in new[] { plain, migrate })
            {
                var outcome = transformer.Transform(c.Value, out var newValue, out var reason);
                outcomes.Add(outcome);
                Assert.Equal(outcome == RowOutcome.Reencrypted, newValue is not null);
                Assert.Equal(outcome == RowOutcome.Failed, reason is not null);
                if (reason is not null && c.Value.Trim(PythonStrip).Length >= 16)
                    Assert.DoesNotContain(c.Value.Trim(PythonStrip), reason.ToString());

                if (before is not null)
                {
                    // The application read it: it still reads the same plaintext, from the canonical value at the target or
                    // from the value left as it was.
                    Assert.NotEqual(RowOutcome.Failed, outcome);
                    if (newValue is not null)
                    {
                        Assert.True(StoredValue.TryParse(newValue, out var stored) && stored.ToString() == newValue && stored.Version == "v2");
                        Assert.Equal(before, ApplicationDecrypts(newValue));
                    }
                    continue;
                }

                if (knownPrefix)
                {
                    // Unreadable under a version of the ring: damaged ciphertext, never plaintext, in either mode. (A well-formed
                    // value at or beyond the target is left alone unverified, as it always was.)
                    Assert.NotEqual(RowOutcome.Reencrypted, outcome);
                    if (outcome == RowOutcome.Failed) Assert.Contains(reason!.ErrorId, new[] { ValueTransformer.CiphertextDamaged, "TokenSignatureInvalid", "TokenMalformed",
                        "TokenVersionUnsupported", "TokenPaddingInvalid" });
                    continue;
                }

                if (newValue is not null)
                {
                    // Encrypted as plaintext: only under -EncryptPlaintext, and the application then reads the value exactly as it was.
                    Assert.Same(migrate, transformer);
                    Assert.NotEqual(Kind.Unknown, c.Kind);
                    Assert.Equal(Encoding.UTF8.GetBytes(c.Value), ApplicationDecrypts(newValue));
                }
            }

            // -EncryptPlaintext changes only what happens to plaintext.
            if (outcomes[0] != outcomes[1])
                Assert.Equal((RowOutcome.Failed, RowOutcome.Reencrypted), (outcomes[0], outcomes[1]));
        }, c => c.ToString());
        foreach (var (what, count) in seen.OrderBy(x => x.Key, StringComparer.Ordinal)) _output.WriteLine($"  {count,5}  {what}");
    }

    [Fact]
    public void Every_value_a_well_formed_generator_makes_with_plain_whitespace_is_read_by_the_application()
    {
        // Guards the property above: its oracle must read the ordinary cases, or the property proves nothing.
        var value = _keys.ProtectAt(Plaintext, "v1", Stamp);
        Assert.NotNull(ApplicationDecrypts(value));
        Assert.NotNull(ApplicationDecrypts(" \u001C" + value.TrimEnd('=') + "\u3000\n"));
        Assert.Null(ApplicationDecrypts("\u200B" + value));
    }
}
