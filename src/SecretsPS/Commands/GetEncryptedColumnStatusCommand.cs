using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Config;
using SecretsPS.Core.Data;

namespace SecretsPS.Commands;

/// <summary>
/// The proof that a re-encryption is complete (the original document's manual check in the Flask shell):
/// per target, rows per key version, NULLs, values that are not ciphertext, counted in the database.
/// </summary>
[Cmdlet(VerbsCommon.Get, "EncryptedColumnStatus")]
[OutputType(typeof(EncryptedColumnStatus))]
public sealed class GetEncryptedColumnStatusCommand : PipedDatabaseCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableCompleter))]
    public string Table { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ColumnCompleter))]
    public string Column { get; set; } = "";

    private KeyConfiguration? _config;
    private readonly CancellationTokenSource _stop = new();

    protected override void Begin() => _config = KeyConfiguration.Load(ResolveKeyFile());

    protected override void Process()
    {
        RefuseRecordOfOtherDatabase();
        var connectionString = ResolveConnectionString();
        var dialect = Dialect;
        try
        {
            using var connection = Core.Data.DatabaseConnection.Open(dialect, connectionString, SignIn, readOnly: true);
            var status = ColumnStatusReader.Read(dialect, connection, Table, Column, _config!.Ring, _stop.Token);
            if (status.UnknownVersionRows > 0)
                Warning(Localized.Format(CommandMessages.RowsUnknownVersion, status.UnknownVersionRows, status.Target));
            if (status.NotCiphertext > 0)
                Warning(Localized.Format(CommandMessages.RowsNotCiphertext, status.NotCiphertext, status.Target));
            Verbose(Localized.Format(CommandMessages.ColumnStatus, status.Target, status.IsComplete ? CommandMessages.ColumnComplete : CommandMessages.ColumnNotComplete, status.AtActiveVersion, status.EncryptedRows, status.ActiveVersion));
            WriteObject(status);
        }
        catch (SecretsPSException e)
        {
            Error(e, $"{Table}.{Column}");
        }
    }

    /// <summary>Ctrl+C cancels the count in the database (it reads the whole column, and may take long on a large table).</summary>
    protected override void StopProcessing() => _stop.Cancel();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _config?.Dispose();
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }
}
