using SecretsPS.Core.Crypto;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §1: version names and the automatic next name.</summary>
public class VersionNameTests
{
    [Theory]
    [InlineData("v1")]
    [InlineData("v2-prod")]
    [InlineData("2025.01_rotation")]
    [InlineData("A")]
    [InlineData("9")]
    [InlineData("abcdefghijklmnopqrstuvwxyz012345")] // 32 characters
    public void Names_that_follow_the_rule_are_valid(string name)
    {
        Assert.True(VersionName.IsValid(name));
        VersionName.Validate(name);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("v:1")]
    [InlineData("v 1")]
    [InlineData(" v1")]
    [InlineData("v1\n")]
    [InlineData("-v1")]
    [InlineData(".v1")]
    [InlineData("_v1")]
    [InlineData("versão")]
    [InlineData("v１")] // fullwidth digit: a digit, but not ASCII
    [InlineData("v1/2")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456")] // 33 characters
    public void Names_that_break_the_rule_are_invalid_and_the_error_states_the_rule(string? name)
    {
        Assert.False(VersionName.IsValid(name));

        var ex = Assert.Throws<SecretsPSException>(() => VersionName.Validate(name));

        Assert.Equal("VersionNameInvalid", ex.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, ex.Kind);
        Assert.Contains("1 to 32 characters", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void A_very_long_name_is_shown_cut_to_40_characters()
    {
        string name = new string('x', 40) + new string('y', 60);

        var ex = Assert.Throws<SecretsPSException>(() => VersionName.Validate(name));

        Assert.Contains(new string('x', 40) + "…", ex.Message);
        Assert.DoesNotContain("xy", ex.Message);
        Assert.DoesNotContain("yy", ex.Message);
    }

    [Fact]
    public void The_first_version_is_v1()
    {
        Assert.Equal("v1", VersionName.Next([]));
        Assert.Equal("v1", VersionName.Next(["prod", "v2-prod", "V7"]));
    }

    [Fact]
    public void The_next_version_follows_the_highest_number_not_the_latest_or_the_longest_text()
    {
        Assert.Equal("v11", VersionName.Next(["v2", "v10", "v9", "v1"]));
        Assert.Equal("v4", VersionName.Next(["v3", "v2-prod", "v100x", "staging"]));
    }

    [Fact]
    public void Leading_zeros_count_as_the_same_number()
    {
        Assert.Equal("v8", VersionName.Next(["v007", "v3"]));
        Assert.Equal("v1", VersionName.Next(["v0", "v000"]));
    }

    [Fact]
    public void Absurdly_long_numbers_are_ignored_rather_than_overflowing()
    {
        Assert.Equal("v6", VersionName.Next(["v5", "v" + new string('9', 31)]));
        Assert.Equal("v1000000000000000000", VersionName.Next(["v" + new string('9', 18)]));
    }
}
