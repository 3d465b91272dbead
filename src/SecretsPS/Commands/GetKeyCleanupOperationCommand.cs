using SecretsPS.Core;
using System.Management.Automation;
using SecretsPS.Core.Audit;

namespace SecretsPS.Commands;

/// <summary>flask secrets cleanup-stats: the cleanup operations recorded in the key file's audit journal.</summary>
[Cmdlet(VerbsCommon.Get, "KeyCleanupOperation")]
[OutputType(typeof(KeyCleanupOperation))]
public sealed class GetKeyCleanupOperationCommand : KeyFileCmdlet
{
    /// <summary>cleanup_yyyyMMdd_HHmmss_xxxx; wildcards allowed.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(OperationIdCompleter))]
    public string[]? OperationId { get; set; }

    /// <summary>Only the newest N operations.</summary>
    [Parameter]
    [ValidateRange(1, 1000000)]
    public int? Last { get; set; }

    protected override void Process()
    {
        var keyFile = ResolveKeyFile(mustExist: false);
        var operations = CleanupJournal.Read(keyFile, out var damaged);
        if (damaged > 0) Warning(Core.Localized.Format(CommandMessages.JournalLinesSkipped, damaged, CleanupJournal.PathFor(keyFile)));
        var patterns = OperationId?.Select(p => WildcardPattern.Get(p, WildcardOptions.IgnoreCase)).ToList();
        var matching = operations.Where(o => patterns is null || patterns.Any(p => p.IsMatch(o.OperationId))).ToList();
        var list = Last is { } n ? matching.TakeLast(n).ToList() : matching;
        if (OperationId is not null)
        {
            foreach (var id in OperationId.Where(i => !WildcardPattern.ContainsWildcardCharacters(i) && matching.All(o => !string.Equals(o.OperationId, i, StringComparison.OrdinalIgnoreCase))))
                Error(new Core.SecretsPSException(ErrorIds.OperationNotFound, Core.ErrorKind.ObjectNotFound,
                    Core.Localized.Format(CommandMessages.OperationNotFound, id, CleanupJournal.PathFor(keyFile)), target: id), id);
        }
        WriteObject(list, enumerateCollection: true);
    }
}
