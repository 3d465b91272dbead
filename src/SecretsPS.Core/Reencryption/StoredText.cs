using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;

namespace SecretsPS.Core.Reencryption;

/// <summary>
/// The job tables' reasons and messages (FORMATS.md §5) are stored in English, whatever the UI culture, so that every
/// reader (a script, the Python tools, a later run) reads the same text; they are translated when shown. A stored text is
/// the English form of one of <see cref="Templates"/>; its arguments are recovered by matching the template, and the
/// template of the current culture is filled with them. A text no template matches (written by an older version of the
/// module, or by hand) is shown as stored.
/// </summary>
public static class StoredText
{
    /// <summary>Resource names of every text the engine stores in a job row's message or an error row's reason.</summary>
    public static readonly IReadOnlyList<string> Templates = new[]
    {
        nameof(Messages.RowReasonValueNotText), nameof(Messages.RowReasonRowNotUpdated), nameof(Messages.RowReasonConcurrentUpdate),
        nameof(Messages.RowReasonVersionUnknown), nameof(Messages.RowReasonCannotDecrypt), nameof(Messages.RowReasonDamagedPrefix),
        nameof(Messages.RowReasonDamagedToken), nameof(Messages.RowReasonNotCiphertext), nameof(Messages.RowReasonTooLong),
        nameof(Messages.JobMessageResumedAtStart), nameof(Messages.JobMessageResumedAtKey), nameof(Messages.JobMessageStopped),
        nameof(Messages.JobMessageMaxDuration), nameof(Messages.JobMessageMaxRows), nameof(Messages.JobMessageTooManyErrors),
        nameof(Messages.JobMessageComplete), nameof(Messages.JobMessageCompleteWithErrors), nameof(Messages.JobMessageIncomplete),
        nameof(Messages.JobMessageIncompleteWithErrors), nameof(Messages.JobMessageConnectionLost), nameof(Messages.JobMessageDatabaseError),
        nameof(Messages.JobMessageFailedWith), nameof(Messages.JobMessageInterrupted), nameof(Messages.JobMessageResumedChunks),
    };

    /// <summary>The English text to store: the template's invariant form, its numbers formatted invariantly.</summary>
    public static string Store(string template, params object?[] args) =>
        string.Format(CultureInfo.InvariantCulture, English(template), args);

    /// <summary>A row error whose reason is stored in English and shown in the user's language.</summary>
    public static RowError Reason(string errorId, string template, params object?[] args) => new(errorId, Store(template, args));

    /// <summary>A stored text in the current UI culture; unknown texts as stored, null as null.</summary>
    public static string? Display(string? stored)
    {
        // A text longer than any the engine writes was not written by it: shown as stored, never matched at length.
        if (string.IsNullOrEmpty(stored) || stored.Length > MaxMatchedLength) return stored;
        foreach (var template in Templates)
        {
            Match match;
            try { match = Pattern(template).Match(stored); }
            catch (RegexMatchTimeoutException) { return stored; }
            if (!match.Success) continue;
            var args = new object?[match.Groups.Count - 1];
            for (int i = 0; i < args.Length; i++) args[i] = Proof(match.Groups["a" + i].Value);
            var local = Messages.ResourceManager.GetString(template, CultureInfo.CurrentUICulture) ?? English(template);
            return string.Format(CultureInfo.CurrentCulture, local, args);
        }
        return stored;
    }

    /// <summary>A stored row error ("ErrorId: reason", FORMATS.md §5) split into its code and its reason in the user's language.</summary>
    public static (string ErrorId, string Reason) DisplayRowError(string stored)
    {
        var colon = stored.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0 || !stored[..colon].All(char.IsAsciiLetterOrDigit)) return ("", stored);
        return (stored[..colon], Display(stored[(colon + 2)..])!);
    }

    /// <summary>A job's proof (CompletionProof.ToText) in the user's language: its words translated, its counts as stored.</summary>
    private static string Proof(string argument) =>
        argument.StartsWith(CompletionProof.Marker, StringComparison.Ordinal)
            ? Messages.ProofCountedAtFinish + argument[CompletionProof.Marker.Length..].Replace(CompletionProof.NotCiphertextName, Messages.ProofNotCiphertext, StringComparison.Ordinal)
            : argument;

    private static string English(string template) =>
        Messages.ResourceManager.GetString(template, CultureInfo.InvariantCulture)
        ?? throw new InvalidOperationException($"No message '{template}'.");

    /// <summary>Longer than any text the engine stores (names and counts are bounded); a table edited by hand may hold anything.</summary>
    private const int MaxMatchedLength = 4000;

    // Shared by every runspace: concurrent, and a template's pattern is always the same (a race only builds it twice).
    private static readonly ConcurrentDictionary<string, Regex> Patterns = new();

    private static Regex Pattern(string template) => Patterns.GetOrAdd(template, t =>
    {
        var english = English(t);
        var pattern = new System.Text.StringBuilder("^");
        int at = 0;
        foreach (Match hole in Regex.Matches(english, @"\{(\d+)\}"))
        {
            pattern.Append(Regex.Escape(english[at..hole.Index]));
            pattern.Append("(?<a").Append(hole.Groups[1].Value).Append(">.*?)");
            at = hole.Index + hole.Length;
        }
        pattern.Append(Regex.Escape(english[at..])).Append('$');
        // Several lazy groups can backtrack on a hostile text: a bounded match, and the text shown as stored past it.
        return new Regex(pattern.ToString(), RegexOptions.Singleline | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
    });
}
