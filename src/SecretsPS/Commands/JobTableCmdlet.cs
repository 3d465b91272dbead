using System.Management.Automation;

namespace SecretsPS.Commands;

/// <summary>The cmdlets that read or change the job tables of a database.</summary>
public abstract class JobTableCmdlet : DatabaseCmdlet
{
    /// <summary>The job table in the target database (its error table is named after it).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string JobTable { get; set; } = Core.Reencryption.JobStore.DefaultTable;

    /// <summary>
    /// DatabaseCmdlet's -Provider, here also bound from a piped job's Provider (Get-ReencryptJob | Remove-ReencryptJob). Each
    /// record of the job cmdlets is handled on its own connection (as in <see cref="PipedDatabaseCmdlet"/>'s cmdlets).
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateProviderName]
    [ArgumentCompleter(typeof(ProviderCompleter))]
    public new string? Provider
    {
        get => base.Provider;
        set => base.Provider = value;
    }

    /// <summary>DatabaseCmdlet's -ConnectionString, here also bound from a piped job's ConnectionString (which has no secret).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public new string? ConnectionString
    {
        get => base.ConnectionString;
        set => base.ConnectionString = value;
    }

    protected static Core.SecretsPSException JobNotFound(long id) =>
        new("JobNotFound", Core.ErrorKind.ObjectNotFound, Core.Localized.Format(CommandMessages.JobNotFound, id), target: id.ToString());

    /// <summary>A job as the cmdlets emit it: it names its database (without a secret) and job table, for the next cmdlet in a pipeline.</summary>
    protected Core.Reencryption.ReencryptJob Located(Core.Reencryption.ReencryptJob job, string connectionString)
    {
        job.Provider = Dialect.Provider.ToString();
        job.ConnectionString = Core.Data.ConnectionStringWithoutSecrets.From(connectionString);
        job.JobTable = JobTable;
        return job;
    }
}
