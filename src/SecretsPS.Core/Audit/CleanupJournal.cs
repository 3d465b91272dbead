using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SecretsPS.Core.Config;

namespace SecretsPS.Core.Audit;

/// <summary>
/// &lt;key file&gt;.audit.jsonl: one JSON line per cleanup operation, appended, mode 0600. It records versions,
/// counts, paths and steps — never key material or values.
/// </summary>
public static class CleanupJournal
{
    // Shared by every runspace: JsonSerializerOptions is thread-safe once used, and these are never changed after.
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = false,
    };

    /// <summary>Beside the key file's final target (a link's), like its backups and lock: two paths to one file share one journal.</summary>
    public static string PathFor(string keyFile) => KeyFileStore.ResolveTarget(keyFile) + ".audit.jsonl";

    public static void Append(string keyFile, KeyCleanupOperation operation)
    {
        var path = PathFor(keyFile);
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(operation, Options) + "\n");
        try
        {
            // The journal never follows a link of its own: checked before it is opened and again once it is open.
            KeyFileStore.RefuseLink(path, keyFile);
            if (!File.Exists(path))
            {
                try
                {
                    using var created = OwnerOnlyFile.CreateNew(path);
                }
                catch (IOException) when (File.Exists(path)) { }
            }
            using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
            KeyFileStore.RefuseLink(path, keyFile);
            stream.Write(line);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SecretsPSException(ErrorIds.AuditJournalUnwritable, ErrorKind.WriteError,
                Localized.Format(Messages.AuditJournalUnwritable, path, e.Message), e, path);
        }
    }

    /// <summary>Every operation in the journal, oldest first; a damaged line is skipped and counted.</summary>
    public static IReadOnlyList<KeyCleanupOperation> Read(string keyFile, out int damagedLines)
    {
        damagedLines = 0;
        var path = PathFor(keyFile);
        var list = new List<KeyCleanupOperation>();
        if (!File.Exists(path)) return list;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                var op = JsonSerializer.Deserialize<KeyCleanupOperation>(line, Options);
                if (op is null) damagedLines++;
                else list.Add(op);
            }
            catch (JsonException)
            {
                damagedLines++;
            }
        }
        return list;
    }
}
