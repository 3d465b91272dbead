using System.Text;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Core.Tests;

/// <summary>
/// What one row of a re-encryption becomes. The common case takes a path without intermediate strings
/// (StoredValue.TryReencryptPayload, FernetKey.TryReencrypt); these prove it gives what the general path gives, and defers to it otherwise.
/// </summary>
public class ValueTransformerTests
{
    private static readonly DateTimeOffset Stamp = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    private static (RowOutcome Outcome, string? Value, string? Reason) Transform(ValueTransformer transformer, string value) =>
        (transformer.Transform(value, out var n, out var r), n, r?.ToString());

    [Fact]
    public void A_value_of_an_older_version_moves_to_the_target_with_its_plaintext_and_timestamp_at_every_length()
    {
        using var keys = TestKeys.Create("v1", "v2", "v3");
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Get("v3"), encryptPlaintext: false, maxLength: null);
        foreach (var length in Enumerable.Range(0, 70).Concat([1000, 1500, 3000]))
        {
            var plaintext = new string('é', length / 2) + new string('x', length - length / 2);
            foreach (var version in new[] { "v1", "v2" })
            {
                var (outcome, moved, reason) = Transform(transformer, keys.ProtectAt(plaintext, version, Stamp));

                Assert.Equal((RowOutcome.Reencrypted, (string?)null), (outcome, reason));
                var stored = StoredValue.Parse(moved!);
                Assert.Equal("v3", stored.Version);
                Assert.Equal(plaintext, Encoding.UTF8.GetString(keys.Ring.Get("v3").FernetKey.Decrypt(stored.Token, out long timestamp)));
                Assert.Equal(Stamp.ToUnixTimeSeconds(), timestamp);
                Assert.Equal(moved, StoredValue.Create("v3", stored.Token).ToString());
            }
        }
    }

    [Fact]
    public void A_stored_value_whose_payload_lacks_its_padding_is_moved_like_the_padded_one()
    {
        using var keys = TestKeys.Create("v1", "v2");
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Get("v2"), encryptPlaintext: false, maxLength: null);
        for (int length = 0; length < 6; length++)
        {
            var padded = keys.ProtectAt(new string('a', length), "v1", Stamp);
            var unpadded = padded.TrimEnd('=');

            var (outcome, moved, _) = Transform(transformer, unpadded);

            Assert.Equal(RowOutcome.Reencrypted, outcome);
            Assert.Equal(new string('a', length), keys.Ring.UnprotectToString(moved!));
        }
    }

    [Fact]
    public void Every_damaged_value_is_refused_with_the_general_paths_reason_or_moved_intact()
    {
        using var keys = TestKeys.Create("v1", "v2");
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Get("v2"), encryptPlaintext: false, maxLength: null);
        const string plaintext = "JBSWY3DPEHPK3PXP";
        var original = keys.ProtectAt(plaintext, "v1", Stamp);
        var replacements = new[] { 'A', 'B', 'z', '-', '_', '=', '+', '/', ' ', 'é', ':' };
        var reasons = new HashSet<string>();
        for (int i = 0; i < original.Length; i++)
        {
            foreach (var c in replacements)
            {
                if (original[i] == c) continue;
                var damaged = original[..i] + c + original[(i + 1)..];

                var (outcome, moved, reason) = Transform(transformer, damaged);

                if (outcome == RowOutcome.Reencrypted)
                {
                    // Only a change the format tolerates (the payload's own padding bits) may still be moved, and then intact.
                    Assert.Equal(plaintext, keys.Ring.UnprotectToString(moved!));
                }
                else
                {
                    Assert.Null(moved);
                    Assert.DoesNotContain(plaintext, reason!);
                    reasons.Add(reason!.Split(':')[0]);
                }
            }
        }

        // A value that keeps its known "v1:" prefix but no longer parses is damaged ciphertext (FORMATS.md §4), no longer
        // NotCiphertext as before: CiphertextDamaged joined the reasons deliberately.
        Assert.Subset(new HashSet<string> { "TokenSignatureInvalid", "TokenMalformed", "NotCiphertext", "ValueVersionUnknown", "CiphertextDamaged" }, reasons);
        Assert.Contains("TokenSignatureInvalid", reasons);
        Assert.Contains("CiphertextDamaged", reasons);
        Assert.Contains("NotCiphertext", reasons);
    }

    [Fact]
    public void A_value_signed_by_another_key_under_an_old_version_name_is_refused_not_moved()
    {
        using var keys = TestKeys.Create("v1", "v2");
        using var stranger = TestKeys.Create("v1", "v2");
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Get("v2"), encryptPlaintext: false, maxLength: null);

        var (outcome, moved, reason) = Transform(transformer, stranger.ProtectAt("secret", "v1", Stamp));

        Assert.Equal(RowOutcome.Failed, outcome);
        Assert.Null(moved);
        Assert.StartsWith("TokenSignatureInvalid", reason);
    }

    [Fact]
    public void Values_at_or_beyond_the_target_are_left_alone()
    {
        using var keys = TestKeys.Create("v1", "v2", "v3");
        var transformer = new ValueTransformer(keys.Ring, keys.Ring.Get("v2"), encryptPlaintext: false, maxLength: null);

        Assert.Equal(RowOutcome.AlreadyAtTarget, Transform(transformer, keys.ProtectAt("a", "v2", Stamp)).Outcome);
        Assert.Equal(RowOutcome.AlreadyAtTarget, Transform(transformer, keys.ProtectAt("a", "v3", Stamp)).Outcome);
    }
}
