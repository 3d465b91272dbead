namespace SecretsPS.Core;

/// <summary>
/// Every ErrorId SecretsPS reports, in one place: scripts match on these (<c>$_.FullyQualifiedErrorId</c>,
/// <c>-ErrorAction</c> handlers), the job's error table stores the row ones, and they never change with the UI
/// language. Each is the name of its constant.
/// </summary>
public static class ErrorIds
{
    public const string ActiveKeyAgeUnknown = nameof(ActiveKeyAgeUnknown);
    public const string ActiveVersionMissing = nameof(ActiveVersionMissing);
    public const string ActiveVersionNotDefined = nameof(ActiveVersionNotDefined);
    public const string ActiveVersionRemoval = nameof(ActiveVersionRemoval);
    public const string AuditJournalUnwritable = nameof(AuditJournalUnwritable);
    public const string BackupFailed = nameof(BackupFailed);
    public const string BackupInvalid = nameof(BackupInvalid);
    public const string BackupNotFound = nameof(BackupNotFound);
    public const string BatchSizeInvalid = nameof(BatchSizeInvalid);
    public const string CiphertextDamaged = nameof(CiphertextDamaged);
    public const string CleanupRolledBack = nameof(CleanupRolledBack);
    public const string ColumnTypeUnsupported = nameof(ColumnTypeUnsupported);
    public const string ConcurrentUpdate = nameof(ConcurrentUpdate);
    public const string ConfirmationRequired = nameof(ConfirmationRequired);
    public const string ConnectionStringInvalid = nameof(ConnectionStringInvalid);
    public const string ConnectionStringMissing = nameof(ConnectionStringMissing);
    public const string CredentialNotSupported = nameof(CredentialNotSupported);
    public const string DatabaseError = nameof(DatabaseError);
    public const string DatabaseNotFound = nameof(DatabaseNotFound);
    public const string DatabaseUnavailable = nameof(DatabaseUnavailable);
    public const string EnvironmentNameInvalid = nameof(EnvironmentNameInvalid);
    public const string FernetIvLength = nameof(FernetIvLength);
    public const string FernetKeyLength = nameof(FernetKeyLength);
    public const string FernetKeyMalformed = nameof(FernetKeyMalformed);
    public const string FernetTimestampInvalid = nameof(FernetTimestampInvalid);
    public const string FernetTtlInvalid = nameof(FernetTtlInvalid);
    public const string IdentifierInvalid = nameof(IdentifierInvalid);
    public const string JobAlreadyRunning = nameof(JobAlreadyRunning);
    public const string JobFinished = nameof(JobFinished);
    public const string JobNotFound = nameof(JobNotFound);
    public const string JobOptionsMismatch = nameof(JobOptionsMismatch);
    public const string JobRunning = nameof(JobRunning);
    public const string JobTableInvalid = nameof(JobTableInvalid);
    public const string KdfInvalid = nameof(KdfInvalid);
    public const string KdfUnknown = nameof(KdfUnknown);
    public const string KeepOutOfRange = nameof(KeepOutOfRange);
    public const string KeyBytesOutOfRange = nameof(KeyBytesOutOfRange);
    public const string KeyColumnIsEncryptedColumn = nameof(KeyColumnIsEncryptedColumn);
    public const string KeyColumnNotUnique = nameof(KeyColumnNotUnique);
    public const string KeyColumnRequired = nameof(KeyColumnRequired);
    public const string KeyColumnTypeUnsupported = nameof(KeyColumnTypeUnsupported);
    public const string KeyFileExists = nameof(KeyFileExists);
    public const string KeyFileLinkRefused = nameof(KeyFileLinkRefused);
    public const string KeyFileLinkUnresolvable = nameof(KeyFileLinkUnresolvable);
    public const string KeyFileLocked = nameof(KeyFileLocked);
    public const string KeyFileNotFound = nameof(KeyFileNotFound);
    public const string KeyFileNotUtf8 = nameof(KeyFileNotUtf8);
    public const string KeyFileOwnerNotKept = nameof(KeyFileOwnerNotKept);
    public const string KeyFileReadableByOthers = nameof(KeyFileReadableByOthers);
    public const string KeyFileRollbackFailed = nameof(KeyFileRollbackFailed);
    public const string KeyFileTooLarge = nameof(KeyFileTooLarge);
    public const string KeyFileUnreadable = nameof(KeyFileUnreadable);
    public const string KeyFileWriteFailed = nameof(KeyFileWriteFailed);
    public const string KeyVersionExists = nameof(KeyVersionExists);
    public const string KeyVersionNotFound = nameof(KeyVersionNotFound);
    public const string LogFileIsKeyFile = nameof(LogFileIsKeyFile);
    public const string LogFileUnwritable = nameof(LogFileUnwritable);
    public const string NotCiphertext = nameof(NotCiphertext);
    public const string OperationNotFound = nameof(OperationNotFound);
    public const string PlaintextNotUtf8 = nameof(PlaintextNotUtf8);
    public const string RawKeyLength = nameof(RawKeyLength);
    public const string ReencryptionIncomplete = nameof(ReencryptionIncomplete);
    public const string RemovalNotApplied = nameof(RemovalNotApplied);
    public const string RowNotUpdated = nameof(RowNotUpdated);
    public const string SaltBytesOutOfRange = nameof(SaltBytesOutOfRange);
    public const string SaltIntegrityCheckFailed = nameof(SaltIntegrityCheckFailed);
    public const string SampleDecryptFailed = nameof(SampleDecryptFailed);
    public const string SelfTestFailed = nameof(SelfTestFailed);
    public const string StoredValueMalformed = nameof(StoredValueMalformed);
    public const string StoredValueTokenInvalid = nameof(StoredValueTokenInvalid);
    public const string TargetIncomplete = nameof(TargetIncomplete);
    public const string TargetNotFound = nameof(TargetNotFound);
    public const string Terminated = nameof(Terminated);
    public const string TokenExpired = nameof(TokenExpired);
    public const string TokenFromFuture = nameof(TokenFromFuture);
    public const string TokenMalformed = nameof(TokenMalformed);
    public const string TokenPaddingInvalid = nameof(TokenPaddingInvalid);
    public const string TokenSignatureInvalid = nameof(TokenSignatureInvalid);
    public const string TokenVersionUnsupported = nameof(TokenVersionUnsupported);
    public const string UnexpectedError = nameof(UnexpectedError);
    public const string ValidationFailed = nameof(ValidationFailed);
    public const string ValueEmpty = nameof(ValueEmpty);
    public const string ValueNotText = nameof(ValueNotText);
    public const string ValueTypeUnsupported = nameof(ValueTypeUnsupported);
    public const string ValueVersionUnknown = nameof(ValueVersionUnknown);
    public const string VersionDefinedTwice = nameof(VersionDefinedTwice);
    public const string VersionFromEnvironment = nameof(VersionFromEnvironment);
    public const string VersionNameInvalid = nameof(VersionNameInvalid);
}
