using System.Text;
using SecretsPS.Core.Config;

namespace SecretsPS.Core.Tests;

/// <summary>FORMATS.md §1: the key file as dotenv lines; what the module does not own is kept verbatim.</summary>
public class KeyFileDocumentTests
{
    private const string SharedFile =
        "# Gerado em 2025-01-14T12:34:56Z\n" +
        "# MANTENHA ESTE ARQUIVO SEGURO - NÃO VERSIONE EM GIT\n" +
        "\n" +
        "ACTIVE_ENCRYPTION_VERSION=\"v1\"\n" +
        "DATABASE_URL=postgres://app@db/app   # owned by the application\n" +
        "   \n" +
        "  # an indented comment\n" +
        "this line is not an assignment\n" +
        "BROKEN=\"never closed\n" +
        "=no name\n" +
        "1STARTS_WITH_DIGIT=x\n" +
        "export FEATURE_FLAG='on'\n" +
        "ENCRYPTION_KEYS__v1=\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n" +
        "\tTABBED = spaced value \n";

    [Fact]
    public void A_file_that_began_with_two_BOMs_reads_the_same_after_it_is_written()
    {
        // Found by the fuzz test: the second BOM is the first line's own text, so that line is not an assignment; written
        // without a BOM in front, the next read would drop it as the BOM and see an assignment that was not there.
        var document = KeyFileDocument.Parse("\uFEFF\uFEFFNAME=value\nOTHER=1\n");

        var again = KeyFileDocument.Parse(document.ToText());

        Assert.Equal(document.Assignments.ToList(), again.Assignments.ToList());
        Assert.DoesNotContain(again.Assignments, a => a.Name == "NAME");
        Assert.Equal("1", again.Get("OTHER"));
    }

    [Fact]
    public void Parsing_and_writing_back_an_unchanged_file_gives_the_same_text()
    {
        var document = KeyFileDocument.Parse(SharedFile);

        Assert.Equal(SharedFile, document.ToText());
    }

    [Fact]
    public void Comments_blank_lines_unknown_names_and_unparseable_lines_survive_a_change_verbatim()
    {
        var document = KeyFileDocument.Parse(SharedFile);

        document.Set("ACTIVE_ENCRYPTION_VERSION", "v2");

        Assert.Equal(SharedFile.Replace("ACTIVE_ENCRYPTION_VERSION=\"v1\"", "ACTIVE_ENCRYPTION_VERSION=\"v2\""), document.ToText());
    }

    [Fact]
    public void Lines_that_are_not_assignments_are_not_read_as_settings()
    {
        var document = KeyFileDocument.Parse(SharedFile);

        var names = document.Assignments.Select(a => a.Name).ToList();

        Assert.Equal(new[] { "ACTIVE_ENCRYPTION_VERSION", "DATABASE_URL", "FEATURE_FLAG", "ENCRYPTION_KEYS__v1", "TABBED" }, names);
        Assert.False(document.Contains("BROKEN"));
        Assert.False(document.Contains("1STARTS_WITH_DIGIT"));
    }

    [Theory]
    [InlineData("NAME=value", "value")]
    [InlineData("NAME=\"value\"", "value")]
    [InlineData("NAME='value'", "value")]
    [InlineData("export NAME=value", "value")]
    [InlineData("export NAME=\"value\"", "value")]
    [InlineData("NAME = value ", "value")]
    [InlineData("NAME=value # a comment", "value")]
    [InlineData("NAME=\"a # inside quotes\"", "a # inside quotes")]
    [InlineData("NAME='it has \"double\" quotes'", "it has \"double\" quotes")]
    [InlineData("NAME=abc==", "abc==")]
    [InlineData("NAME=\"abc=\"", "abc=")]
    [InlineData("NAME=", "")]
    [InlineData("NAME=\"\"", "")]
    public void Each_assignment_form_reads_the_same_value(string line, string value)
    {
        var document = KeyFileDocument.Parse(line + "\n");

        Assert.Equal(value, document.Get("NAME"));
        Assert.Equal(line + "\n", document.ToText());
    }

    [Theory]
    [InlineData("NAME=\"value\" # a comment")]
    [InlineData("NAME='value'  # a comment")]
    public void A_quoted_value_followed_by_a_comment_is_read_as_the_value(string line)
    {
        // Unquoted values already drop a " #" comment; dotenv readers (python-dotenv, the application's side)
        // read these lines as NAME=value. A key line a person annotated must not silently stop counting.
        var document = KeyFileDocument.Parse(line + "\n");

        Assert.Equal("value", document.Get("NAME"));
        Assert.Equal(line + "\n", document.ToText());
    }

    [Fact]
    public void Crlf_line_ends_are_read_and_written_back_as_lf()
    {
        var document = KeyFileDocument.Parse("# comment\r\nACTIVE_ENCRYPTION_VERSION=\"v1\"\r\nOTHER=x\r\n");

        Assert.Equal("v1", document.Get("ACTIVE_ENCRYPTION_VERSION"));
        Assert.Equal("x", document.Get("OTHER"));
        Assert.Equal("# comment\nACTIVE_ENCRYPTION_VERSION=\"v1\"\nOTHER=x\n", document.ToText());
    }

    [Fact]
    public void A_byte_order_mark_is_skipped_and_not_written_back()
    {
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("ACTIVE_ENCRYPTION_VERSION=v1\n")).ToArray();

        var document = KeyFileStore.ParseBytes(bytes, "test");

        Assert.Equal("v1", document.Get("ACTIVE_ENCRYPTION_VERSION"));
        Assert.Equal("ACTIVE_ENCRYPTION_VERSION=v1\n", document.ToText());
        Assert.Equal("v1", KeyFileDocument.Parse("\uFEFFACTIVE_ENCRYPTION_VERSION=v1").Get("ACTIVE_ENCRYPTION_VERSION"));
    }

    [Fact]
    public void A_file_without_a_final_line_end_gets_one()
    {
        var document = KeyFileDocument.Parse("A=1\nB=2");

        Assert.Equal("2", document.Get("B"));
        Assert.Equal("A=1\nB=2\n", document.ToText());
    }

    [Fact]
    public void Set_replaces_the_value_where_the_name_stands()
    {
        var document = KeyFileDocument.Parse("# top\nA=1\nB=2\n# bottom\n");

        document.Set("A", "changed");

        Assert.Equal("# top\nA=\"changed\"\nB=2\n# bottom\n", document.ToText());
    }

    [Fact]
    public void Set_appends_a_name_that_is_not_there()
    {
        var document = KeyFileDocument.Parse("# top\nA=1\n");

        document.Set("C", "3");

        Assert.Equal("# top\nA=1\nC=\"3\"\n", document.ToText());
        Assert.Equal("3", document.Get("C"));
    }

    [Fact]
    public void Set_on_a_name_assigned_twice_keeps_one_line_where_the_first_stood()
    {
        var document = KeyFileDocument.Parse("A=1\nB=2\nA=3\nC=4\n");

        document.Set("A", "new");

        Assert.Equal("A=\"new\"\nB=2\nC=4\n", document.ToText());
    }

    [Fact]
    public void Remove_deletes_every_line_of_the_name_and_nothing_else()
    {
        var document = KeyFileDocument.Parse("# keep\nA=1\nB=2\nA=3\nnot an assignment\n");

        int removed = document.Remove("A");

        Assert.Equal(2, removed);
        Assert.False(document.Contains("A"));
        Assert.Equal("# keep\nB=2\nnot an assignment\n", document.ToText());
        Assert.Equal(0, document.Remove("MISSING"));
    }

    [Fact]
    public void Get_returns_the_last_assignment_and_Assignments_lists_every_one_with_its_line()
    {
        var document = KeyFileDocument.Parse("# c\nA=1\n\nA=2\n");

        Assert.Equal("2", document.Get("A"));
        Assert.Null(document.Get("B"));
        Assert.Equal(new[] { ("A", "1", 2), ("A", "2", 4) }, document.Assignments.ToArray());
    }

    [Fact]
    public void An_empty_document_writes_nothing_and_collects_what_is_appended()
    {
        var document = KeyFileDocument.Empty();
        Assert.Equal(string.Empty, document.ToText());

        document.AppendBlankLine(); // nothing to separate yet
        document.AppendComment("hello");
        document.AppendBlankLine();
        document.AppendBlankLine(); // never two in a row
        document.Set("A", "1");

        Assert.Equal("# hello\n\nA=\"1\"\n", document.ToText());
    }

    [Fact]
    public void Format_writes_a_double_quoted_assignment()
    {
        Assert.Equal("ENCRYPTION_KDF__v1=\"hkdf-sha256\"", KeyFileDocument.Format("ENCRYPTION_KDF__v1", "hkdf-sha256"));
    }
}
