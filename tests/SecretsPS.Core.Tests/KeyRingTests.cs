using System.Text;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using static SecretsPS.Core.Tests.KeyFileFixture;

namespace SecretsPS.Core.Tests;

/// <summary>The key ring: protect with the active version, unprotect with the version a value names (FORMATS.md §3, §4).</summary>
public sealed class KeyRingTests : IDisposable
{
    private readonly KeyRing _ring = Ring("v2", Version("v1", 1), Version("v2", 2));

    private static KeyRing Ring(string active, params IEnumerable<string>[] versions) =>
        KeySettings.From(KeyFileDocument.Parse(FileText(active, versions)), NoEnvironment).BuildKeyRing();

    public void Dispose() => _ring.Dispose();

    private static byte[] TokenBytes(string token)
    {
        Assert.True(Base64Url.TryDecode(token, paddingOptional: false, out var bytes));
        return bytes;
    }

    [Theory]
    [InlineData("hunter2")]
    [InlineData("")]
    [InlineData("olá, ação, naïve, 日本語, emoji 🔑")]
    [InlineData("line one\nline two\r\n\ttab")]
    public void Protect_then_Unprotect_gives_back_the_text(string plaintext)
    {
        string stored = _ring.Protect(plaintext);

        Assert.Equal(plaintext, _ring.UnprotectToString(stored));
        Assert.Equal(Encoding.UTF8.GetBytes(plaintext), _ring.Unprotect(stored));
    }

    [Fact]
    public void A_stored_value_starts_with_the_active_version_and_a_colon()
    {
        string stored = _ring.Protect("secret");

        Assert.StartsWith("v2:", stored);
        Assert.Equal("v2", StoredValue.Parse(stored).Version);
        Assert.StartsWith("gAAAAA", StoredValue.Parse(stored).Token);
    }

    [Fact]
    public void Protect_can_name_another_version()
    {
        string stored = _ring.Protect("secret", "v1");

        Assert.StartsWith("v1:", stored);
        Assert.Equal("secret", _ring.UnprotectToString(stored));
    }

    [Fact]
    public void Protect_with_an_unknown_version_fails_with_KeyVersionNotFound()
    {
        var e = Assert.Throws<KeyVersionNotFoundException>(() => _ring.Protect("secret", "v9"));

        Assert.Equal("KeyVersionNotFound", e.ErrorId);
        Assert.Equal("v9", e.Version);
    }

    [Fact]
    public void Two_protections_of_the_same_text_differ()
    {
        Assert.NotEqual(_ring.Protect("same"), _ring.Protect("same"));
    }

    [Fact]
    public void A_value_naming_a_version_the_ring_does_not_hold_fails_with_ValueVersionUnknown()
    {
        string stored = "v9" + _ring.Protect("secret")[2..];

        var e = Assert.ThrowsAny<SecretsPSException>(() => _ring.Unprotect(stored));

        Assert.Equal("ValueVersionUnknown", e.ErrorId);
        Assert.Equal("v9", e.Target);
    }

    [Fact]
    public void A_value_with_the_wrong_versions_prefix_fails_its_signature_check()
    {
        string stored = "v1" + _ring.Protect("secret")[2..];

        var e = Assert.Throws<TokenInvalidException>(() => _ring.Unprotect(stored));

        Assert.Equal("TokenSignatureInvalid", e.ErrorId);
    }

    [Fact]
    public void A_tampered_token_fails_with_a_token_error()
    {
        var value = StoredValue.Parse(_ring.Protect("secret"));
        var bytes = TokenBytes(value.Token);
        bytes[30] ^= 0x01; // inside the IV
        string tampered = StoredValue.Create("v2", Base64Url.Encode(bytes)).ToString();

        var e = Assert.Throws<TokenInvalidException>(() => _ring.Unprotect(tampered));

        Assert.StartsWith("Token", e.ErrorId);
        Assert.Equal("TokenSignatureInvalid", e.ErrorId);
    }

    [Fact]
    public void A_truncated_token_fails_with_a_token_error()
    {
        var value = StoredValue.Parse(_ring.Protect("secret"));
        var bytes = TokenBytes(value.Token);
        string truncated = "v2:" + Base64Url.Encode(Encoding.ASCII.GetBytes(Base64Url.Encode(bytes[..^17])));

        var e = Assert.ThrowsAny<SecretsPSException>(() => _ring.Unprotect(truncated));

        Assert.Matches("^(Token|StoredValue)", e.ErrorId);
    }

    [Fact]
    public void A_token_made_with_another_key_fails_with_TokenSignatureInvalid()
    {
        using var other = Ring("v2", Version("v1", 1), Version("v2", 42));
        string fromOther = other.Protect("secret");

        var e = Assert.Throws<TokenInvalidException>(() => _ring.Unprotect(fromOther));

        Assert.Equal("TokenSignatureInvalid", e.ErrorId);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void An_empty_value_fails_with_ValueEmpty(string? stored)
    {
        var e = Assert.ThrowsAny<SecretsPSException>(() => _ring.Unprotect(stored));

        Assert.Equal("ValueEmpty", e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void Plaintext_is_not_taken_for_a_stored_value()
    {
        var e = Assert.ThrowsAny<SecretsPSException>(() => _ring.Unprotect("my password"));

        Assert.Equal("StoredValueMalformed", e.ErrorId);
        Assert.DoesNotContain("my password", e.Message);
    }

    [Fact]
    public void Bytes_that_are_not_UTF8_decrypt_but_fail_as_text_with_PlaintextNotUtf8()
    {
        string stored = _ring.Protect(new byte[] { 0xC3, 0x28, 0xFF });

        Assert.Equal(new byte[] { 0xC3, 0x28, 0xFF }, _ring.Unprotect(stored));
        Assert.Equal("PlaintextNotUtf8", Assert.ThrowsAny<SecretsPSException>(() => _ring.UnprotectToString(stored)).ErrorId);
    }

    [Fact]
    public void Reencrypt_changes_the_version_and_keeps_the_token_timestamp()
    {
        const long stamp = 1_500_000_000; // 2017: clearly not "now"
        var v1 = _ring.Get("v1");
        string oldToken = v1.FernetKey.Encrypt("olá mundo"u8, stamp, new byte[16]);
        var old = StoredValue.Create("v1", oldToken);

        string reencrypted = _ring.Reencrypt(old, _ring.Get("v2"));

        var value = StoredValue.Parse(reencrypted);
        Assert.Equal("v2", value.Version);
        Assert.Equal(stamp, FernetKey.ReadTimestamp(value.Token));
        Assert.Equal("olá mundo", _ring.UnprotectToString(reencrypted));
        Assert.Throws<TokenInvalidException>(() => v1.FernetKey.Decrypt(value.Token));
    }

    [Fact]
    public void Reencrypt_of_a_value_from_an_unknown_version_fails_with_ValueVersionUnknown()
    {
        using var other = Ring("v7", Version("v7", 7));
        var foreign = StoredValue.Parse(other.Protect("x"));

        var e = Assert.ThrowsAny<SecretsPSException>(() => _ring.Reencrypt(foreign, _ring.Active));

        Assert.Equal("ValueVersionUnknown", e.ErrorId);
    }

    [Fact]
    public void Rotation_keeps_old_versions_readable()
    {
        using var folder = new TempFolder();
        var path = folder.File(".env.crypto");
        KeyFileOperations.Create(path, "v1", 32, 16, null, overwrite: false);
        string before;
        using (var config = KeyConfiguration.Load(path, NoEnvironment))
            before = config.Ring.Protect("written before the rotation");

        KeyFileOperations.Rotate(path, new RotationOptions(), NoEnvironment);
        KeyFileOperations.Rotate(path, new RotationOptions(), NoEnvironment);

        using var after = KeyConfiguration.Load(path, NoEnvironment);
        Assert.Equal("v3", after.Ring.Active.Name);
        Assert.Equal("written before the rotation", after.Ring.UnprotectToString(before));
        Assert.StartsWith("v3:", after.Ring.Protect("new"));
        string moved = after.Ring.Reencrypt(StoredValue.Parse(before), after.Ring.Active);
        Assert.Equal("written before the rotation", after.Ring.UnprotectToString(moved));
    }

    [Fact]
    public void Each_versions_Fernet_key_is_derived_once()
    {
        using var ring = Ring("v2", Version("v1", 1, kdf: "pbkdf2-sha256:1000"), Version("v2", 2));

        foreach (var version in ring.Versions)
        {
            var first = version.FernetKey;
            Assert.Same(first, version.FernetKey);
            Assert.Same(first, ring.Get(version.Name).FernetKey);
        }

        ring.Protect("a", "v1");
        ring.Protect("b", "v1");
        Assert.Same(ring.Get("v1").FernetKey, ring.Get("v1").FernetKey);
    }

    [Fact]
    public void Each_KDF_gives_its_own_Fernet_key_from_the_same_key_bytes()
    {
        using var hkdf = Ring("v1", Version("v1", 1, kdf: "hkdf-sha256"));
        using var absent = Ring("v1", Version("v1", 1, kdf: null));
        using var pbkdf2 = Ring("v1", Version("v1", 1, kdf: "pbkdf2-sha256:1000"));
        using var raw = Ring("v1", Version("v1", 1, kdf: "raw"));

        string stored = hkdf.Protect("x");

        Assert.Equal("x", absent.UnprotectToString(stored));
        Assert.Throws<TokenInvalidException>(() => pbkdf2.Unprotect(stored));
        Assert.Throws<TokenInvalidException>(() => raw.Unprotect(stored));
        using var rawKey = new FernetKey(Bytes(32, 1));
        Assert.Equal("y"u8.ToArray(), rawKey.Decrypt(StoredValue.Parse(raw.Protect("y")).Token));
    }

    [Fact]
    public void The_ring_refuses_an_active_version_it_does_not_hold()
    {
        var v1 = KeyVersion.Generate("v1", 32, 16, KeyDerivation.HkdfSha256, DateTimeOffset.UtcNow);

        var e = Assert.ThrowsAny<SecretsPSException>(() => new KeyRing(new[] { v1 }, "v2"));

        Assert.Equal("ActiveVersionNotDefined", e.ErrorId);
        v1.Dispose();
    }

    [Fact]
    public void The_ring_refuses_two_versions_with_one_name()
    {
        using var a = KeyVersion.Generate("v1", 32, 16, KeyDerivation.HkdfSha256, DateTimeOffset.UtcNow);
        using var b = KeyVersion.Generate("v1", 32, 16, KeyDerivation.HkdfSha256, DateTimeOffset.UtcNow);

        var e = Assert.ThrowsAny<SecretsPSException>(() => new KeyRing(new[] { a, b }, "v1"));

        Assert.Equal("VersionDefinedTwice", e.ErrorId);
    }

    [Fact]
    public void A_disposed_ring_can_no_longer_use_its_keys()
    {
        var ring = Ring("v1", Version("v1", 1));
        var v1 = ring.Active;

        ring.Dispose();

        Assert.Throws<ObjectDisposedException>(() => v1.FernetKey);
        Assert.Throws<ObjectDisposedException>(() => ring.Protect("x"));
    }
}
