using System.Reflection;
using System.Text.RegularExpressions;

namespace SecretsPS.Core.Tests;

/// <summary>ErrorIds live in one place (<see cref="ErrorIds"/>): scripts match on them, so none is spelled out anywhere else.</summary>
public sealed class ErrorIdsTests
{
    [Fact]
    public void Every_ErrorId_is_the_name_of_its_constant()
    {
        foreach (var field in typeof(ErrorIds).GetFields(BindingFlags.Public | BindingFlags.Static))
            Assert.Equal(field.Name, field.GetRawConstantValue());
    }

    [Fact]
    public void No_source_file_spells_an_ErrorId_as_a_string_literal()
    {
        var literal = new Regex(
            @"""[A-Z][A-Za-z0-9]+""(?=\s*,\s*(ErrorKind|ErrorCategory)\.)|(?<=new RowError\(|Exception\(\s*)""[A-Z][A-Za-z0-9]+""|ErrorId(\s*:|\s*==|\s+is)\s*""",
            RegexOptions.Multiline);
        var offenders = Directory.EnumerateFiles(Path.Combine(RepoPaths.RepoRoot, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .SelectMany(f => literal.Matches(File.ReadAllText(f)).Select(m => $"{Path.GetFileName(f)}: {m.Value}"))
            .ToList();

        Assert.True(offenders.Count == 0, "ErrorIds written as literals (use ErrorIds.<Name>): " + string.Join("; ", offenders));
    }
}
