using System.Management.Automation;

namespace SecretsPS.Commands;

/// <summary>The cmdlets that read or change the job tables of a database.</summary>
public abstract class JobTableCmdlet : DatabaseCmdlet
{
    /// <summary>The job table in the target database (its error table is named after it).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string JobTable { get; set; } = Core.Reencryption.JobStore.DefaultTable;

    protected static Core.SecretsPSException JobNotFound(long id) =>
        new("JobNotFound", Core.ErrorKind.ObjectNotFound, Core.Localized.Format(CommandMessages.JobNotFound, id), target: id.ToString());
}
