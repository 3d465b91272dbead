using System.Text;
using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §4: <c>&lt;version&gt;:&lt;base64url(token)&gt;</c> and its length.</summary>
public class StoredValueTests
{
    private static readonly byte[] KeyBytes = Enumerable.Range(0, FernetKey.Size).Select(i => (byte)(i * 7)).ToArray();

    [Fact]
    public void A_stored_value_is_the_version_a_colon_and_base64url_of_the_token_text()
    {
        using var key = new FernetKey(KeyBytes);
        string token = key.Encrypt("olá"u8);

        string text = StoredValue.Create("v2", token).ToString();

        string expected = "v2:" + Convert.ToBase64String(Encoding.ASCII.GetBytes(token)).Replace('+', '-').Replace('/', '_');
        Assert.Equal(expected, text);
        Assert.StartsWith("v2:Z0FBQUFBQ", text);
    }

    [Fact]
    public void Parsing_the_written_form_gives_back_the_version_and_the_token()
    {
        using var key = new FernetKey(KeyBytes);
        string token = key.Encrypt("olá"u8);

        StoredValue value = StoredValue.Parse(StoredValue.Create("v2-prod", token).ToString());

        Assert.Equal("v2-prod", value.Version);
        Assert.Equal(token, value.Token);
        Assert.Equal("olá"u8.ToArray(), key.Decrypt(value.Token));
    }

    [Fact]
    public void Values_written_without_padding_are_read_and_written_back_padded()
    {
        using var key = new FernetKey(KeyBytes);
        // Find a token whose stored form needs padding, so that leaving it out is a real change.
        string padded = Enumerable.Range(0, 10)
            .Select(n => StoredValue.Create("v1", key.Encrypt(new byte[n])).ToString())
            .First(text => text.EndsWith('='));

        Assert.True(StoredValue.TryParse(padded.TrimEnd('='), out StoredValue value));

        Assert.Equal(padded, value.ToString());
    }

    [Theory]
    [InlineData(null, "empty")]
    [InlineData("", "empty")]
    [InlineData("plain text password", "no ':'")]
    [InlineData("my secret: hunter2", "before the first ':'")]
    [InlineData(":Z0FBQUFBQ", "before the first ':'")]
    [InlineData("v1:***", "is not base64url")]
    [InlineData("v1:Z0FBQUFBQ=", "is not base64url")]
    [InlineData("v1:aGVsbG8gd29ybGQ=", "does not decode to a Fernet token")] // "hello world"
    [InlineData("v1:w6fDp8Onw6c=", "does not decode to a Fernet token")]     // non-ASCII UTF-8
    [InlineData("v1:Z0FBQUFBIGFi", "does not decode to a Fernet token")]     // "gAAAAA ab": a space inside
    public void Text_that_is_not_a_stored_value_is_refused_without_being_echoed(string? text, string reason)
    {
        Assert.False(StoredValue.TryParse(text, out _));

        var ex = Assert.Throws<SecretsPSException>(() => StoredValue.Parse(text!));

        Assert.Equal("StoredValueMalformed", ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidData, ex.Kind);
        Assert.Contains(reason, ex.Message);
        if (!string.IsNullOrEmpty(text))
        {
            Assert.DoesNotContain(text, ex.Message);
        }
    }

    [Fact]
    public void Creating_a_value_checks_the_version_name_and_the_token_shape()
    {
        using var key = new FernetKey(KeyBytes);
        string token = key.Encrypt("x"u8);

        Assert.Equal("VersionNameInvalid", Assert.Throws<SecretsPSException>(() => StoredValue.Create("v:1", token)).ErrorId);
        Assert.Equal("StoredValueTokenInvalid", Assert.Throws<SecretsPSException>(() => StoredValue.Create("v1", "not a token")).ErrorId);
    }

    [Fact]
    public void LengthFor_matches_the_written_length_for_every_plaintext_length_up_to_100_and_some_large_ones()
    {
        using var key = new FernetKey(KeyBytes);
        int[] lengths = [.. Enumerable.Range(0, 101), 255, 256, 1000, 4095, 4096, 4097, 65_535, 1_000_000];

        foreach (string version in new[] { "v1", "v10", "2025.01_rotation" })
        {
            foreach (int n in lengths)
            {
                string text = StoredValue.Create(version, key.Encrypt(new byte[n])).ToString();

                Assert.True(text.Length == StoredValue.LengthFor(version.Length, n), $"version '{version}', {n} plaintext bytes");
            }
        }
    }

    [Fact]
    public void LengthFor_follows_the_formula_in_FORMATS()
    {
        // len(version) + 1 + 4·⌈4·⌈(73 + 16·⌊n/16⌋)/3⌉/3⌉ for n = 0: 73 bytes → 100 chars → 136 chars.
        Assert.Equal(2 + 1 + 136, StoredValue.LengthFor(2, 0));
        Assert.Equal(StoredValue.LengthFor(2, 0), StoredValue.LengthFor(2, 15));
        Assert.True(StoredValue.LengthFor(2, 16) > StoredValue.LengthFor(2, 15));
    }

    [Fact]
    public void The_default_value_is_empty()
    {
        StoredValue value = default;

        Assert.Equal(string.Empty, value.Version);
        Assert.Equal(string.Empty, value.Token);
        Assert.Equal(string.Empty, value.ToString());
    }
}
