using System.Data.Common;
using System.Management.Automation;
using SecretsPS.Core;

namespace SecretsPS.Commands;

/// <summary>
/// The cmdlets whose pipeline records each name their database: Start-Reencryption, Get-EncryptedColumnStatus and
/// Remove-UnusedEncryptionKey take -Provider and -ConnectionString from the pipeline by property name, so that
/// <c>Import-Csv fleet.csv | Start-Reencryption</c> works on each row's database with the one key file of the command.
/// </summary>
/// <remarks>
/// Find-EncryptedColumn is not one of them: it searches one database at its end, and records could not each name theirs.
/// A typed -ConnectionString or -Provider is never bound from a record (PowerShell's rule), so a record that names
/// another database is refused rather than worked on in the typed one. A record that names no database (a CSV of Table
/// and Column, a Find-EncryptedColumn result) works on the typed one, or on $env:SECRETSPS_CONNECTION_STRING's.
/// </remarks>
public abstract class PipedDatabaseCmdlet : KeyedDatabaseCmdlet
{
    /// <summary>DatabaseCmdlet's -Provider, here also bound from a record's Provider; empty: the connection string decides.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateProviderName]
    [ArgumentCompleter(typeof(ProviderCompleter))]
    public new string? Provider
    {
        get => base.Provider;
        set => base.Provider = value;
    }

    /// <summary>DatabaseCmdlet's -ConnectionString, here also bound from a record's ConnectionString.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public new string? ConnectionString
    {
        get => base.ConnectionString;
        set => base.ConnectionString = value;
    }

    /// <summary>
    /// The record in hand, only to see the database it names when PowerShell did not bind it because one was typed: a
    /// compiled cmdlet has no other view of its input object. Hidden: it is not a way to give a target.
    /// </summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    /// <summary>The record in hand named its database (bound from the pipeline, not typed).</summary>
    protected bool RecordNamesDatabase =>
        !string.IsNullOrEmpty(ConnectionString) && !CommandLineParameters.Contains(nameof(ConnectionString));

    /// <summary>A record that names another database than a typed -ConnectionString or -Provider ends the command.</summary>
    protected void RefuseRecordOfOtherDatabase() => RefuseRecordOfOtherDatabase(InputObject);

    /// <summary>A record whose own database fails (unreachable, no such table) is that record's error: the next records run.</summary>
    protected override bool FailsOnlyThisRecord(Exception e) =>
        RecordsStandAlone && RecordNamesDatabase && e is SecretsPSException or DbException;

    /// <summary>Whether each record is a piece of work of its own (false: the records together make one operation).</summary>
    protected virtual bool RecordsStandAlone => true;

    /// <summary>
    /// In a pipeline of many databases, a record's error says which one (never with its password). Only for records that
    /// stand alone: an operation over all records names the databases in its own messages.
    /// </summary>
    protected override ErrorRecord ForThisRecord(ErrorRecord record)
    {
        if (!RecordsStandAlone || !RecordNamesDatabase) return record;
        var database = DescribeDatabase(ConnectionString);
        var message = record.ErrorDetails?.Message ?? record.Exception.Message;
        // A connection error names the database already.
        if (!message.Contains(database, StringComparison.Ordinal))
            record.ErrorDetails = new ErrorDetails(Localized.Format(CommandMessages.RecordDatabaseFailed, database, message));
        return record;
    }
}
