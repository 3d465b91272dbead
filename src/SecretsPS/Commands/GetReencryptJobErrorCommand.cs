using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Commands;

/// <summary>The rows a job could not re-encrypt, from its error table: row key, reason code and reason, never a value.</summary>
[Cmdlet(VerbsCommon.Get, "ReencryptJobError")]
[OutputType(typeof(ReencryptJobError))]
public sealed class GetReencryptJobErrorCommand : JobTableCmdlet
{
    /// <summary>The job, e.g. piped from Get-ReencryptJob or Start-Reencryption.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Id")]
    [ValidateRange(1, long.MaxValue)]
    [ArgumentCompleter(typeof(JobIdCompleter))]
    public long[] JobId { get; set; } = Array.Empty<long>();

    /// <summary>At most this many error rows per job, oldest first.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; } = 1000;

    protected override void Process()
    {
        var connectionString = ResolveConnectionString();
        var dialect = Dialect;
        var store = new JobStore(dialect, JobTable);
        using var connection = Core.Data.DatabaseConnection.Open(dialect, connectionString, SignIn, readOnly: true);
        var tablesExist = store.TablesExist(connection);
        foreach (var id in JobId)
        {
            var job = tablesExist ? store.Get(connection, null, id) : null;
            if (job is null)
            {
                Error(JobNotFound(id), id);
                continue;
            }
            var errors = store.ReadErrors(connection, job, First);
            foreach (var error in errors) WriteObject(error);
            if (errors.Count == First && job.Errors > First)
                Warning(Localized.Format(CommandMessages.MoreJobErrorsThanFirst, job.Id, job.Errors, First));
        }
    }
}
