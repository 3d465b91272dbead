using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Tests;

/// <summary>The Fernet spec's vectors (FORMATS.md §3), and what FernetKey promises beyond them.</summary>
public class FernetVectorTests
{
    // What each invalid.json case is rejected as. A new vector without an entry here fails the test,
    // so every reason the spec lists is mapped to an ErrorId on purpose.
    private static readonly Dictionary<string, string> ExpectedErrorIds = new()
    {
        ["incorrect mac"] = "TokenSignatureInvalid",
        ["too short"] = "TokenMalformed",
        ["invalid base64"] = "TokenMalformed",
        ["payload size not multiple of block size"] = "TokenMalformed",
        ["payload padding error"] = "TokenPaddingInvalid",
        ["far-future TS (unacceptable clock skew)"] = "TokenFromFuture",
        ["expired TTL"] = "TokenExpired",
        ["incorrect IV (causes padding error)"] = "TokenPaddingInvalid",
    };

    private static readonly byte[] KeyA = Enumerable.Range(0, FernetKey.Size).Select(i => (byte)i).ToArray();
    private static readonly byte[] KeyB = Enumerable.Range(100, FernetKey.Size).Select(i => (byte)i).ToArray();

    public static TheoryData<string> InvalidVectorDescriptions()
    {
        var data = new TheoryData<string>();
        foreach (InvalidVector vector in Load<InvalidVector>("invalid.json"))
        {
            data.Add(vector.Desc);
        }

        return data;
    }

    [Fact]
    public void Every_generate_vector_produces_the_expected_token()
    {
        GenerateVector[] vectors = Load<GenerateVector>("generate.json");
        Assert.NotEmpty(vectors);
        foreach (GenerateVector vector in vectors)
        {
            using FernetKey key = FernetKey.FromBase64Url(vector.Secret);
            byte[] iv = vector.Iv.Select(b => (byte)b).ToArray();

            string token = key.Encrypt(Encoding.UTF8.GetBytes(vector.Src), Seconds(vector.Now), iv);

            Assert.Equal(vector.Token, token);
        }
    }

    [Fact]
    public void Every_verify_vector_decrypts_to_its_source_within_its_ttl()
    {
        VerifyVector[] vectors = Load<VerifyVector>("verify.json");
        Assert.NotEmpty(vectors);
        foreach (VerifyVector vector in vectors)
        {
            using FernetKey key = FernetKey.FromBase64Url(vector.Secret);

            byte[] plaintext = key.Decrypt(vector.Token, TimeSpan.FromSeconds(vector.TtlSec), Parse(vector.Now));

            Assert.Equal(vector.Src, Encoding.UTF8.GetString(plaintext));
        }
    }

    [Theory]
    [MemberData(nameof(InvalidVectorDescriptions))]
    public void Every_invalid_vector_is_rejected_with_the_error_its_reason_names(string description)
    {
        InvalidVector vector = Load<InvalidVector>("invalid.json").Single(v => v.Desc == description);
        Assert.True(ExpectedErrorIds.TryGetValue(description, out string? expected), $"No ErrorId is mapped for invalid vector '{description}'.");
        using FernetKey key = FernetKey.FromBase64Url(vector.Secret);

        var ex = Assert.Throws<TokenInvalidException>(
            () => key.Decrypt(vector.Token, TimeSpan.FromSeconds(vector.TtlSec), Parse(vector.Now)));

        Assert.Equal(expected, ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, ex.Kind);
        Assert.DoesNotContain(vector.Token, ex.Message);
        Assert.DoesNotContain(vector.Secret, ex.Message);
    }

    [Fact]
    public void A_token_stamped_in_the_far_future_decrypts_when_no_ttl_is_asked_for()
    {
        // As in Python's cryptography: the clock-skew check belongs to the TTL check.
        InvalidVector vector = Load<InvalidVector>("invalid.json").Single(v => v.Desc.StartsWith("far-future", StringComparison.Ordinal));
        using FernetKey key = FernetKey.FromBase64Url(vector.Secret);

        Assert.NotNull(key.Decrypt(vector.Token));
    }

    [Fact]
    public void Token_text_without_its_padding_is_malformed()
    {
        VerifyVector vector = Load<VerifyVector>("verify.json")[0];
        using FernetKey key = FernetKey.FromBase64Url(vector.Secret);
        Assert.EndsWith("=", vector.Token);

        var ex = Assert.Throws<TokenInvalidException>(() => key.Decrypt(vector.Token.TrimEnd('=')));

        Assert.Equal("TokenMalformed", ex.ErrorId);
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("\n")]
    [InlineData("==")]
    [InlineData("+")]
    public void Token_text_with_stray_characters_is_malformed(string stray)
    {
        VerifyVector vector = Load<VerifyVector>("verify.json")[0];
        using FernetKey key = FernetKey.FromBase64Url(vector.Secret);

        var ex = Assert.Throws<TokenInvalidException>(() => key.Decrypt(vector.Token + stray));

        Assert.Equal("TokenMalformed", ex.ErrorId);
    }

    [Fact]
    public void A_token_of_another_Fernet_version_is_unsupported()
    {
        using var key = new FernetKey(KeyA);
        byte[] raw = DecodeToken(key.Encrypt("x"u8));
        raw[0] = 0x81;

        var ex = Assert.Throws<TokenInvalidException>(() => key.Decrypt(Base64Url.Encode(raw)));

        Assert.Equal("TokenVersionUnsupported", ex.ErrorId);
    }

    [Fact]
    public void A_token_round_trips_with_its_timestamp()
    {
        using var key = new FernetKey(KeyA);
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        string token = key.Encrypt("segredo"u8);
        byte[] plaintext = key.Decrypt(token, out long timestamp);

        Assert.Equal("segredo"u8.ToArray(), plaintext);
        Assert.InRange(timestamp, before, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal(timestamp, FernetKey.ReadTimestamp(token));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(1000)]
    [InlineData(1007)]
    [InlineData(1008)]
    [InlineData(1024)]
    [InlineData(5000)]
    public void Plaintexts_of_any_length_round_trip(int length)
    {
        using var key = new FernetKey(KeyA);
        using var other = new FernetKey(KeyB);
        byte[] plaintext = RandomNumberGenerator.GetBytes(length);

        Assert.Equal(plaintext, key.Decrypt(key.Encrypt(plaintext)));
        Assert.Equal(plaintext, other.Decrypt(key.Reencrypt(key.Encrypt(plaintext), other)));
    }

    [Fact]
    public void The_ciphertext_is_standard_AES_CBC_with_PKCS7_for_every_length_up_to_five_blocks()
    {
        // An independent computation of the token (the framework's one-shot CBC and HMAC), byte for byte.
        using var key = new FernetKey(KeyA);
        using var aes = Aes.Create();
        aes.Key = KeyA[16..];
        byte[] iv = RandomNumberGenerator.GetBytes(16);
        for (int length = 0; length <= 80; length++)
        {
            byte[] plaintext = RandomNumberGenerator.GetBytes(length);
            byte[] body = [0x80, .. Enumerable.Reverse(BitConverter.GetBytes(1_700_000_000L)), .. iv, .. aes.EncryptCbc(plaintext, iv, PaddingMode.PKCS7)];
            byte[] expected = [.. body, .. HMACSHA256.HashData(KeyA[..16], body)];

            Assert.Equal(Convert.ToBase64String(expected).Replace('+', '-').Replace('/', '_'), key.Encrypt(plaintext, 1_700_000_000, iv));
        }
    }

    [Fact]
    public void Many_threads_sharing_two_keys_get_tokens_that_decrypt_and_never_repeat_an_iv()
    {
        using var source = new FernetKey(KeyA);
        using var target = new FernetKey(KeyB);
        var ivs = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            byte[] plaintext = Encoding.UTF8.GetBytes($"secret-{i}-é");
            string moved = source.Reencrypt(source.Encrypt(plaintext), target);

            Assert.Equal(plaintext, target.Decrypt(moved));
            Assert.True(ivs.TryAdd(Convert.ToHexString(Base64UrlBytes(moved).AsSpan(9, 16)), true));
        });
    }

    private static byte[] Base64UrlBytes(string token) => Convert.FromBase64String(token.Replace('-', '+').Replace('_', '/'));

    [Fact]
    public void Two_encryptions_of_the_same_plaintext_differ()
    {
        using var key = new FernetKey(KeyA);

        Assert.NotEqual(key.Encrypt("same"u8), key.Encrypt("same"u8));
    }

    [Fact]
    public void A_token_made_with_another_key_fails_the_signature_check()
    {
        using var a = new FernetKey(KeyA);
        using var b = new FernetKey(KeyB);

        var ex = Assert.Throws<TokenInvalidException>(() => b.Decrypt(a.Encrypt("secret"u8)));

        Assert.Equal("TokenSignatureInvalid", ex.ErrorId);
    }

    [Fact]
    public void Changing_any_byte_of_a_token_is_detected()
    {
        using var key = new FernetKey(KeyA);
        byte[] original = DecodeToken(key.Encrypt("a value worth protecting"u8, 499162800, new byte[16]));

        for (int i = 0; i < original.Length; i++)
        {
            byte[] tampered = (byte[])original.Clone();
            tampered[i] ^= 0x01;

            var ex = Assert.Throws<TokenInvalidException>(() => key.Decrypt(Base64Url.Encode(tampered)));

            Assert.Equal(i == 0 ? "TokenVersionUnsupported" : "TokenSignatureInvalid", ex.ErrorId);
        }
    }

    [Fact]
    public void The_signature_is_checked_before_the_age()
    {
        // A forged token learns nothing from the answer: it is "signature invalid" whatever its stamp.
        using var a = new FernetKey(KeyA);
        using var b = new FernetKey(KeyB);
        string old = a.Encrypt("x"u8, 1000, new byte[16]);

        var ex = Assert.Throws<TokenInvalidException>(() => b.Decrypt(old, TimeSpan.FromSeconds(60), DateTimeOffset.UtcNow));

        Assert.Equal("TokenSignatureInvalid", ex.ErrorId);
    }

    [Fact]
    public void A_token_exactly_ttl_old_is_still_valid_and_one_second_more_is_expired()
    {
        using var key = new FernetKey(KeyA);
        string token = key.Encrypt("x"u8, 1_000_000, new byte[16]);
        DateTimeOffset made = DateTimeOffset.FromUnixTimeSeconds(1_000_000);

        key.Decrypt(token, TimeSpan.FromSeconds(60), made.AddSeconds(60));
        key.Decrypt(token, TimeSpan.FromSeconds(60), made.AddSeconds(-60));
        Assert.Equal("TokenExpired", Assert.Throws<TokenInvalidException>(
            () => key.Decrypt(token, TimeSpan.FromSeconds(60), made.AddSeconds(61))).ErrorId);
        Assert.Equal("TokenFromFuture", Assert.Throws<TokenInvalidException>(
            () => key.Decrypt(token, TimeSpan.FromSeconds(60), made.AddSeconds(-61))).ErrorId);
    }

    [Fact]
    public void Reencrypt_keeps_the_original_timestamp_and_moves_the_token_to_the_target_key()
    {
        using var a = new FernetKey(KeyA);
        using var b = new FernetKey(KeyB);
        string token = a.Encrypt("rotate me"u8, 499162800, RandomNumberGenerator.GetBytes(16));

        string moved = a.Reencrypt(token, b);

        Assert.Equal(499162800, FernetKey.ReadTimestamp(moved));
        Assert.Equal("rotate me"u8.ToArray(), b.Decrypt(moved, out long timestamp));
        Assert.Equal(499162800, timestamp);
        Assert.Equal("TokenSignatureInvalid", Assert.Throws<TokenInvalidException>(() => a.Decrypt(moved)).ErrorId);
    }

    [Fact]
    public void ReadTimestamp_needs_no_key_but_rejects_what_is_not_a_token()
    {
        GenerateVector vector = Load<GenerateVector>("generate.json")[0];

        Assert.Equal(Seconds(vector.Now), FernetKey.ReadTimestamp(vector.Token));
        Assert.Equal("TokenMalformed", Assert.Throws<TokenInvalidException>(() => FernetKey.ReadTimestamp("not a token")).ErrorId);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    public void A_key_that_is_not_32_bytes_is_refused(int length)
    {
        var ex = Assert.Throws<SecretsPSException>(() => new FernetKey(new byte[length]));

        Assert.Equal("FernetKeyLength", ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
    }

    [Fact]
    public void Key_text_that_is_not_base64url_is_refused_without_echoing_it()
    {
        const string text = "this is not a key!";

        var ex = Assert.Throws<SecretsPSException>(() => FernetKey.FromBase64Url(text));

        Assert.Equal("FernetKeyMalformed", ex.ErrorId);
        Assert.DoesNotContain(text, ex.Message);
    }

    [Fact]
    public void An_iv_that_is_not_16_bytes_is_refused()
    {
        using var key = new FernetKey(KeyA);

        Assert.Equal("FernetIvLength", Assert.Throws<SecretsPSException>(() => key.Encrypt("x"u8, 0, new byte[15])).ErrorId);
    }

    [Fact]
    public void A_disposed_key_can_no_longer_be_used()
    {
        var key = new FernetKey(KeyA);
        string token = key.Encrypt("x"u8);

        key.Dispose();
        key.Dispose();

        Assert.Throws<ObjectDisposedException>(() => key.Encrypt("x"u8));
        Assert.Throws<ObjectDisposedException>(() => key.Decrypt(token));
        using var other = new FernetKey(KeyB);
        Assert.Throws<ObjectDisposedException>(() => other.Reencrypt(other.Encrypt("x"u8), key));
    }

    [Fact]
    public void Many_threads_can_encrypt_and_decrypt_with_one_key()
    {
        using var key = new FernetKey(KeyA);
        int failures = 0;

        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, i =>
        {
            byte[] plaintext = Encoding.UTF8.GetBytes($"value {i} " + new string('x', i % 50));
            if (!plaintext.AsSpan().SequenceEqual(key.Decrypt(key.Encrypt(plaintext))))
            {
                Interlocked.Increment(ref failures);
            }
        });

        Assert.Equal(0, failures);
    }

    private static byte[] DecodeToken(string token)
    {
        Assert.True(Base64Url.TryDecode(token, paddingOptional: false, out byte[]? raw));
        return raw;
    }

    private static DateTimeOffset Parse(string iso) =>
        DateTimeOffset.Parse(iso, System.Globalization.CultureInfo.InvariantCulture);

    private static long Seconds(string iso) => Parse(iso).ToUnixTimeSeconds();

    private static T[] Load<T>(string file)
    {
        string path = Path.Combine(RepoPaths.FernetVectors, file);
        Assert.True(File.Exists(path), $"The Fernet vectors are expected at {path} (tests/vectors/fernet in the repository).");
        return JsonSerializer.Deserialize<T[]>(File.ReadAllText(path))
            ?? throw new InvalidOperationException($"{path} holds no array.");
    }

    private sealed record GenerateVector(
        [property: JsonPropertyName("token")] string Token,
        [property: JsonPropertyName("now")] string Now,
        [property: JsonPropertyName("iv")] int[] Iv,
        [property: JsonPropertyName("src")] string Src,
        [property: JsonPropertyName("secret")] string Secret);

    private sealed record VerifyVector(
        [property: JsonPropertyName("token")] string Token,
        [property: JsonPropertyName("now")] string Now,
        [property: JsonPropertyName("ttl_sec")] int TtlSec,
        [property: JsonPropertyName("src")] string Src,
        [property: JsonPropertyName("secret")] string Secret);

    private sealed record InvalidVector(
        [property: JsonPropertyName("desc")] string Desc,
        [property: JsonPropertyName("token")] string Token,
        [property: JsonPropertyName("now")] string Now,
        [property: JsonPropertyName("ttl_sec")] int TtlSec,
        [property: JsonPropertyName("secret")] string Secret);
}
