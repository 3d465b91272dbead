using System.Globalization;
using System.Text.RegularExpressions;
using CsCheck;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Core.Tests;

/// <summary>
/// The job tables hold English whatever the UI culture (FORMATS.md §5: machine-read), and the cmdlets show it in the
/// user's language: every stored template, filled with any arguments, reads back as the same template of the current
/// culture with the same arguments; a text no template matches (an older module's, or a hand-written one) shows as stored.
/// </summary>
public sealed class StoredTextTests
{
    private static readonly Regex Hole = new(@"\{(\d+)\}", RegexOptions.CultureInvariant);

    private static int Arity(string template) =>
        Hole.Matches(Messages.ResourceManager.GetString(template, CultureInfo.InvariantCulture)!).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + 1).DefaultIfEmpty(0).Max();

    // Arguments as the engine passes them: names, numbers, durations, ErrorIds, proofs; no value of a row ever.
    private static readonly Gen<string> Argument = Gen.OneOf(
        Gen.String[Gen.Char["a-zA-Z0-9_ .,:;=()'-"], 0, 30],
        Gen.Long[0, long.MaxValue].Select(n => n.ToString(CultureInfo.InvariantCulture)),
        Gen.Const("counted at finish: v1=0, v2=15, (not ciphertext)=3"));

    [Fact]
    public void Every_stored_template_reads_back_in_English_as_stored_and_in_Portuguese_with_the_same_arguments()
    {
        foreach (var template in StoredText.Templates)
        {
            var arity = Arity(template);
            Argument.Array[arity].Sample(args =>
            {
                var stored = StoredText.Store(template, args);
                using (new UiCulture("en-US")) Assert.Equal(stored, StoredText.Display(stored));
                using (new UiCulture("pt-BR"))
                {
                    var shown = StoredText.Display(stored)!;
                    var portuguese = Messages.ResourceManager.GetString(template, new CultureInfo("pt-BR"))!;
                    Assert.NotEqual(stored, shown);
                    // The Portuguese template's literal text is all there, and every argument is (its proof words translated).
                    foreach (var literal in Hole.Split(portuguese).Where((_, i) => i % 2 == 0 && _.Length > 0))
                        Assert.Contains(literal, shown, StringComparison.Ordinal);
                    foreach (var a in args.Where(a => !a.StartsWith("counted at finish", StringComparison.Ordinal)))
                        Assert.Contains(a, shown, StringComparison.Ordinal);
                }
            }, iter: 200);
        }
    }

    [Fact]
    public void A_proof_inside_a_job_message_is_shown_with_its_words_translated_and_its_counts_as_stored()
    {
        var stored = StoredText.Store(nameof(Messages.JobMessageCompleteWithErrors), 3, "counted at finish: v2=15, (not ciphertext)=3");
        Assert.Equal("complete with 3 row error(s); counted at finish: v2=15, (not ciphertext)=3", stored);
        using var pt = new UiCulture("pt-BR");
        Assert.Equal("completo com 3 erro(s) de linha; contado no fim: v2=15, (não cifrado)=3", StoredText.Display(stored));
        // The proof is still read from the stored English text.
        var job = new ReencryptJob(1, "t", "c", "id", "v2", JobStatus.Finished, 18, 15, 0, 3, null, 1, 1, DateTime.UtcNow, null, null, null, null, stored);
        Assert.Equal(15, job.CountsAtFinish!["v2"]);
    }

    [Theory]
    [InlineData("NotCiphertext: the value is not a stored ciphertext (use -EncryptPlaintext to migrate a plaintext column)", "NotCiphertext", "o valor não é um texto cifrado armazenado (use -EncryptPlaintext para migrar uma coluna em texto puro)")]
    [InlineData("ValueVersionUnknown: the value names version 'v0', which is not in the key file", "ValueVersionUnknown", "o valor cita a versão 'v0', que não está no arquivo de chaves")]
    [InlineData("ValueTooLong: the new value is 181 characters and the column holds 120; widen the column", "ValueTooLong", "o novo valor tem 181 caracteres e a coluna comporta 120; aumente a coluna")]
    [InlineData("SomeOldId: a reason an older module wrote", "SomeOldId", "a reason an older module wrote")]
    [InlineData("no code at all, written by hand", "", "no code at all, written by hand")]
    public void A_stored_row_error_is_split_into_its_code_and_its_reason_in_the_user_language(string stored, string errorId, string reason)
    {
        using var pt = new UiCulture("pt-BR");
        Assert.Equal((errorId, reason), StoredText.DisplayRowError(stored));
    }

    [Fact]
    public void Row_reasons_are_stored_in_English_whatever_the_UI_culture()
    {
        using var pt = new UiCulture("pt-BR");
        Assert.Equal("NotCiphertext: the value is not a stored ciphertext (use -EncryptPlaintext to migrate a plaintext column)",
            StoredText.Reason(ErrorIds.NotCiphertext, nameof(Messages.RowReasonNotCiphertext)).ToString());
        Assert.Equal("-MaxDuration 00:05:00 reached; continue with -Resume", StoredText.Store(nameof(Messages.JobMessageMaxDuration), TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void A_hostile_text_in_the_table_is_shown_as_stored_at_once()
    {
        // Many repetitions of a template's literal parts: what makes lazy groups backtrack.
        var hostile = "incomplete with " + string.Concat(Enumerable.Repeat("1 row error(s): 2 value(s) below 'v' remain (x); run again; ", 60));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var shown = StoredText.Display(hostile + "no end");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed}");
        Assert.NotNull(shown);
        var huge = new string('x', 1_000_000);
        Assert.Same(huge, StoredText.Display(huge));
    }

    [Fact]
    public void Null_and_empty_show_as_they_are()
    {
        Assert.Null(StoredText.Display(null));
        Assert.Equal("", StoredText.Display(""));
    }

    private sealed class UiCulture : IDisposable
    {
        private readonly CultureInfo _ui = CultureInfo.CurrentUICulture;
        private readonly CultureInfo _culture = CultureInfo.CurrentCulture;

        public UiCulture(string name)
        {
            CultureInfo.CurrentUICulture = new CultureInfo(name);
            CultureInfo.CurrentCulture = new CultureInfo(name);
        }

        public void Dispose()
        {
            CultureInfo.CurrentUICulture = _ui;
            CultureInfo.CurrentCulture = _culture;
        }
    }
}
