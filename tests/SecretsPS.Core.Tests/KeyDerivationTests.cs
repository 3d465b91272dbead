using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §2: the ENCRYPTION_KDF__&lt;v&gt; setting and what each form derives.</summary>
public class KeyDerivationTests
{
    private static readonly byte[] KeyBytes = Enumerable.Repeat((byte)0x0b, 32).ToArray();
    private static readonly byte[] Salt = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void An_absent_setting_means_hkdf_sha256(string? text)
    {
        Assert.Same(KeyDerivation.HkdfSha256, KeyDerivation.Parse(text));
    }

    [Theory]
    [InlineData("hkdf-sha256", "hkdf-sha256")]
    [InlineData("HKDF-SHA256", "hkdf-sha256")]
    [InlineData("raw", "raw")]
    [InlineData(" raw ", "raw")]
    [InlineData("pbkdf2-sha256:1000", "pbkdf2-sha256:1000")]
    [InlineData("pbkdf2-sha256:600000", "pbkdf2-sha256:600000")]
    [InlineData("pbkdf2-sha256:0600000", "pbkdf2-sha256:600000")]
    public void Each_valid_form_parses_to_its_canonical_name(string text, string name)
    {
        KeyDerivation kdf = KeyDerivation.Parse(text);

        Assert.Equal(name, kdf.Name);
        Assert.Equal(name, kdf.ToString());
        Assert.Equal(kdf, KeyDerivation.Parse(name));
    }

    [Theory]
    [InlineData("pbkdf2-sha256")]
    [InlineData("pbkdf2-sha256:")]
    [InlineData("pbkdf2-sha256:999")]
    [InlineData("pbkdf2-sha256:0")]
    [InlineData("pbkdf2-sha256:-5000")]
    [InlineData("pbkdf2-sha256:1e6")]
    [InlineData("pbkdf2-sha256: 5000")]
    [InlineData("pbkdf2-sha256:99999999999999999999999")]
    public void Pbkdf2_without_a_whole_number_of_at_least_1000_iterations_is_invalid(string text)
    {
        var ex = Assert.Throws<SecretsPSException>(() => KeyDerivation.Parse(text));

        Assert.Equal("KdfInvalid", ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, ex.Kind);
        Assert.Contains("1000", ex.Message);
    }

    [Theory]
    [InlineData("sha256")]
    [InlineData("argon2id")]
    [InlineData("hkdf-sha512")]
    [InlineData("pbkdf2-sha1:1000")]
    public void An_unknown_derivation_is_reported_with_the_valid_forms(string text)
    {
        var ex = Assert.Throws<SecretsPSException>(() => KeyDerivation.Parse(text));

        Assert.Equal("KdfUnknown", ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, ex.Kind);
        Assert.Contains("hkdf-sha256", ex.Message);
        Assert.Contains("pbkdf2-sha256:<iterations>", ex.Message);
        Assert.Contains("raw", ex.Message);
    }

    [Fact]
    public void The_pbkdf2_factory_refuses_fewer_than_1000_iterations()
    {
        Assert.Equal("pbkdf2-sha256:1000", KeyDerivation.Pbkdf2Sha256(1000).Name);
        Assert.Equal("KdfInvalid", Assert.Throws<SecretsPSException>(() => KeyDerivation.Pbkdf2Sha256(999)).ErrorId);
    }

    [Fact]
    public void Hkdf_sha256_matches_RFC_5869_test_case_3()
    {
        // RFC 5869 A.3: IKM 22 x 0x0b, no salt, no info; the first 32 bytes of its OKM.
        byte[] okm = KeyDerivation.HkdfSha256.DeriveFernetKey(Enumerable.Repeat((byte)0x0b, 22).ToArray(), ReadOnlySpan<byte>.Empty);

        Assert.Equal("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d", Convert.ToHexString(okm).ToLowerInvariant());
    }

    [Fact]
    public void Hkdf_sha256_uses_the_salt_and_an_empty_info_as_Python_does()
    {
        // Expected values from Python's cryptography: HKDF(SHA256(), 32, salt, None).derive(key).
        byte[] derived = KeyDerivation.HkdfSha256.DeriveFernetKey(KeyBytes, Salt);

        Assert.Equal("1d722c435fc56347deb5c13e37f756eb486b89223710c00785ce45a56c95e7fb", Convert.ToHexString(derived).ToLowerInvariant());
    }

    [Fact]
    public void Pbkdf2_sha256_derives_what_Python_derives()
    {
        // Expected value from Python's cryptography: PBKDF2HMAC(SHA256(), 32, salt, 1000).derive(key).
        byte[] derived = KeyDerivation.Parse("pbkdf2-sha256:1000").DeriveFernetKey(KeyBytes, Salt);

        Assert.Equal("1707c9dc99f9fd12a4cb220e5810e1e004a8b0af477a0b60d5fed2132aad8c66", Convert.ToHexString(derived).ToLowerInvariant());
    }

    [Fact]
    public void Raw_uses_the_key_bytes_themselves_and_ignores_the_salt()
    {
        byte[] derived = KeyDerivation.Raw.DeriveFernetKey(KeyBytes, Salt);

        Assert.Equal(KeyBytes, derived);
        Assert.NotSame(KeyBytes, derived);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public void Raw_requires_exactly_32_key_bytes(int length)
    {
        var ex = Assert.Throws<SecretsPSException>(() => KeyDerivation.Raw.DeriveFernetKey(new byte[length], Salt));

        Assert.Equal("RawKeyLength", ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, ex.Kind);
    }

    [Theory]
    [InlineData("hkdf-sha256")]
    [InlineData("pbkdf2-sha256:1000")]
    public void Each_derivation_gives_a_32_byte_key_that_depends_on_the_salt(string text)
    {
        KeyDerivation kdf = KeyDerivation.Parse(text);
        byte[] otherSalt = (byte[])Salt.Clone();
        otherSalt[0] ^= 1;

        byte[] first = kdf.DeriveFernetKey(KeyBytes, Salt);
        byte[] second = kdf.DeriveFernetKey(KeyBytes, otherSalt);

        Assert.Equal(FernetKey.Size, first.Length);
        Assert.NotEqual(first, second);
        Assert.Equal(first, kdf.DeriveFernetKey(KeyBytes, Salt));
    }
}
