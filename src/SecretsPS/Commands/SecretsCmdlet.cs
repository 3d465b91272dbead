using System.Management.Automation;
using System.Management.Automation.Host;
using SecretsPS.Core;
using SecretsPS.Core.Audit;
using SecretsPS.Core.Data;

namespace SecretsPS.Commands;

/// <summary>
/// What every SecretsPS cmdlet shares: -LogFile (the file receives what the user is shown), the mapping of
/// library exceptions to ErrorRecords with stable ids, and confirmation that never hangs a host that cannot prompt.
/// </summary>
public abstract class SecretsCmdlet : PSCmdlet, IDisposable
{
    private LogWriter? _log;
    private string? _logPath;
    private List<(DateTime Time, LogLevel Level, string Message)>? _pendingLog;

    /// <summary>Also write what the command shows to this file; an empty string names it secrets_yyyyMMdd_HHmmss.log.</summary>
    [Parameter]
    [AllowEmptyString]
    public string? LogFile { get; set; }

    protected string CurrentFolder => SessionState.Path.CurrentFileSystemLocation.ProviderPath;

    protected string LoggerName => "SecretsPS.Commands." + GetType().Name.Replace("Command", "", StringComparison.Ordinal);

    /// <summary>The parameters given on the command line; a parameter bound later came from the pipeline.</summary>
    protected IReadOnlyCollection<string> CommandLineParameters { get; private set; } = Array.Empty<string>();

    protected sealed override void BeginProcessing()
    {
        CommandLineParameters = MyInvocation.BoundParameters.Keys.ToArray();
        try
        {
            if (LogFile is not null)
            {
                // A PowerShell path (a drive, ~) like every other path parameter; '' names the file itself.
                var logPath = LogFile.Length == 0 ? LogFile : SessionState.Path.GetUnresolvedProviderPathFromPSPath(LogFile);
                _logPath = LogWriter.ResolvePath(logPath, CurrentFolder);
                if (ResolvesKeyFile)
                {
                    // Nothing reaches the file until the key file is known and the log is not one of its names.
                    _pendingLog = new List<(DateTime, LogLevel, string)>();
                }
                else
                {
                    // A cmdlet without a key file still must not write into the one this session would use by default.
                    if (DefaultKeyFile() is { } keyFile) LogWriter.RefuseKeyFileNames(_logPath, keyFile);
                    _log = new LogWriter(_logPath, LoggerName);
                }
                Log(LogLevel.Info, $"{MyInvocation.MyCommand.Name} started");
            }
            Begin();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Fail(e, null);
        }
    }

    /// <summary>Cmdlets that resolve a key file call <see cref="GuardLog"/> with it before they use it.</summary>
    protected virtual bool ResolvesKeyFile => false;

    /// <summary>The key file this session resolves when no -Path is given, if one exists.</summary>
    private string? DefaultKeyFile()
    {
        try
        {
            return KeyFileCmdlet.Resolve(SessionState.Path, null, null, mustExist: true);
        }
        catch (Exception e) when (e is SecretsPSException or IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// FORMATS.md §6: -LogFile never names the key file, one of its backups, its lock or its audit journal. Called with
    /// every key file the command resolves, before it is read or written; the first call opens the log and writes the
    /// lines held until then. A log refused before it was opened is never written.
    /// </summary>
    protected void GuardLog(string keyFile)
    {
        if (_logPath is null) return;
        try
        {
            LogWriter.RefuseKeyFileNames(_logPath, keyFile);
        }
        catch (SecretsPSException) when (_log is null)
        {
            _pendingLog = null;
            _logPath = null;
            throw;
        }
        OpenPendingLog();
    }

    private void OpenPendingLog()
    {
        if (_log is not null || _logPath is null || _pendingLog is null) return;
        var pending = _pendingLog;
        _pendingLog = null;
        try
        {
            _log = new LogWriter(_logPath, LoggerName);
        }
        catch
        {
            _logPath = null;
            throw;
        }
        foreach (var (time, level, message) in pending) _log.Write(level, message, time);
    }

    protected sealed override void ProcessRecord()
    {
        try
        {
            Process();
        }
        catch (Exception e) when (e is not PipelineStoppedException and not ActionPreferenceStopException)
        {
            if (FailsOnlyThisRecord(e)) Error(e, null);
            else Fail(e, null);
        }
    }

    protected sealed override void EndProcessing()
    {
        try
        {
            End();
            Log(LogLevel.Info, $"{MyInvocation.MyCommand.Name} finished");
        }
        catch (Exception e) when (e is not PipelineStoppedException and not ActionPreferenceStopException)
        {
            Fail(e, null);
        }
    }

    protected virtual void Begin() { }

    protected virtual void Process() { }

    protected virtual void End() { }

    // ---- streams that also reach the log ----

    protected void Log(LogLevel level, string message)
    {
        if (_log is not null) _log.Write(level, message);
        else _pendingLog?.Add((DateTime.Now, level, message));
    }

    protected void Verbose(string message)
    {
        Log(LogLevel.Info, message);
        WithoutPrompt(() => WriteVerbose(message));
    }

    protected void Warning(string message)
    {
        Log(LogLevel.Warning, message);
        WithoutPrompt(() => WriteWarning(message));
    }

    /// <summary>
    /// -Debug makes PowerShell ask "Continue?" on every stream line of a compiled cmdlet; a host that cannot
    /// ask must not turn an informational line, written after a change, into a failure of that change.
    /// </summary>
    protected static void WithoutPrompt(Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (CannotPrompt(e))
        {
        }
    }

    /// <summary>
    /// The host could not ask: a non-interactive host (HostException, PSInvalidOperationException), or the console host
    /// with standard input at end-of-file (pwsh -File x.ps1 &lt;/dev/null, as cron and systemd run it), whose prompt finds
    /// no line to read and throws a NullReferenceException from the host's own user-interface code. Only that origin
    /// counts: a NullReferenceException from anywhere else stays an error.
    /// </summary>
    internal static bool CannotPrompt(Exception e) =>
        e is HostException or PSInvalidOperationException
        || e is NullReferenceException && ThrownByHostUserInterface(e);

    private static bool ThrownByHostUserInterface(Exception e)
    {
        if (e.TargetSite?.DeclaringType is { } type) return typeof(PSHostUserInterface).IsAssignableFrom(type);
        // Without metadata for the throwing method, its first stack frame says where it was thrown.
        var first = e.StackTrace?.TrimStart().Split('\n', 2)[0] ?? "";
        return first.Contains("HostUserInterface.", StringComparison.Ordinal);
    }

    /// <summary>A non-terminating error for one input item: -ErrorAction decides what happens next.</summary>
    protected void Error(Exception e, object? target)
    {
        var record = ForThisRecord(ToErrorRecord(e, target));
        Log(LogLevel.Error, $"{record.FullyQualifiedErrorId}: {record.ErrorDetails?.Message ?? record.Exception.Message}");
        WriteError(record);
    }

    /// <summary>Ends the command: nothing further can work.</summary>
    protected void Fail(Exception e, object? target)
    {
        if (e is PipelineStoppedException or ActionPreferenceStopException) throw e;
        var record = e is RuntimeException { ErrorRecord: { } existing } && e is not SecretsPSRuntimeException ? existing : ToErrorRecord(e, target);
        Log(LogLevel.Error, $"{record.FullyQualifiedErrorId}: {record.Exception.Message}");
        ThrowTerminatingError(record);
    }

    protected static ErrorRecord ToErrorRecord(Exception e, object? target)
    {
        if (e is SecretsPSException s)
        {
            return new ErrorRecord(s, s.ErrorId, Category(s.Kind), target ?? s.Target);
        }
        if (e is SecretsPSRuntimeException r) return r.ErrorRecord;
        // Its own text can quote a value, and the record's message goes to the log: only its code is passed on.
        if (e is System.Data.Common.DbException d) return ToErrorRecord(DatabaseErrorText.ToException(d), target);
        return new ErrorRecord(e, ErrorIds.UnexpectedError, ErrorCategory.NotSpecified, target);
    }

    protected static ErrorCategory Category(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        ErrorKind.SecurityError => ErrorCategory.SecurityError,
        ErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        ErrorKind.WriteError => ErrorCategory.WriteError,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.LimitsExceeded => ErrorCategory.LimitsExceeded,
        ErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        _ => ErrorCategory.NotSpecified,
    };

    // ---- confirmation ----

    protected bool IsWhatIf =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w)
            ? ((SwitchParameter)w).IsPresent
            : SessionState.PSVariable.GetValue("WhatIfPreference") is bool b && b
              || SessionState.PSVariable.GetValue("WhatIfPreference") is SwitchParameter sp && sp.IsPresent;

    /// <summary>
    /// ShouldProcess, except that -Force (without an explicit -Confirm) answers yes as the original Flask CLI's --yes did.
    /// A host that cannot prompt gets an error naming the switch to add instead of a hang.
    /// </summary>
    protected bool ShouldChange(string target, string action, bool force)
    {
        if (force && !MyInvocation.BoundParameters.ContainsKey("Confirm") && !IsWhatIf)
        {
            Log(LogLevel.Info, $"{action}: {target}");
            return true;
        }
        bool yes;
        try
        {
            yes = ShouldProcess(target, action);
        }
        catch (Exception e) when (CannotPrompt(e))
        {
            throw new SecretsPSRuntimeException(new ErrorRecord(
                new InvalidOperationException(
                    Localized.Format(CommandMessages.ConfirmationRequired, action, target, MyInvocation.MyCommand.Parameters.ContainsKey("Force") ? CommandMessages.ForceOr : ""), e),
                ErrorIds.ConfirmationRequired, ErrorCategory.InvalidOperation, target));
        }
        if (yes) Log(LogLevel.Info, $"{action}: {target}");
        else if (IsWhatIf) Log(LogLevel.Info, $"What if: {action}: {target}");
        return yes;
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            // No key file was resolved (an empty pipeline, an error before it): what was held still reaches the log.
            try { OpenPendingLog(); }
            catch (SecretsPSException) { }
            _log?.Dispose();
        }
    }

    /// <summary>
    /// Whether an exception out of <see cref="Process"/> is a non-terminating error of the record in hand, after which the
    /// next records still run; otherwise it ends the command. By default every failure ends it.
    /// </summary>
    protected virtual bool FailsOnlyThisRecord(Exception e) => false;

    /// <summary>A non-terminating error as the record in hand shows it (a cmdlet whose records name their database names it).</summary>
    protected virtual ErrorRecord ForThisRecord(ErrorRecord record) => record;
}

/// <summary>Carries a ready ErrorRecord through the library's exception paths to <see cref="SecretsCmdlet.Fail"/>.</summary>
public sealed class SecretsPSRuntimeException : RuntimeException
{
    public SecretsPSRuntimeException(ErrorRecord record) : base(record.Exception.Message, record.Exception, record) { }
}
