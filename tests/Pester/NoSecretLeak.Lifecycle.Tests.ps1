#Requires -Version 7.4
<#
    Secrets never leak, over the whole lifecycle, in one fresh pwsh with every stream on ($VerbosePreference,
    $DebugPreference, $InformationPreference, $WarningPreference = 'Continue' — the preference variables rather than
    -Debug, which prompts on compiled cmdlets) and -LogFile on every command:

        New-EncryptionConfig, Protect-EncryptedValue of known plaintexts, rotations, Start-Reencryption on PostgreSQL
        with a connection string holding Password=… (trust authentication ignores it) over rows of which several fail,
        -WhatIf, Get-EncryptedColumnStatus, Get-ReencryptJob, Remove-UnusedEncryptionKey (audit journal),
        Get-KeyCleanupOperation, Test-EncryptionConfig, Get-EncryptionKey, and a dozen failing commands.

    Everything is captured (every stream of every command, $Error with the whole exception chain, the process's
    stdout/stderr, every log file, the audit journal, the job and job-error tables) and searched for every key and
    salt of the key file, its backups and a second key file (base64 padded and not, base64url, hex lower and upper),
    the Fernet keys derived from them (HKDF-SHA256), the plaintexts (as text, base64 and hex), a raw value that is not
    ciphertext, and the password. Zero hits. (The job tables are also searched for the stored values: they never hold
    a value at all.)
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:savedConnection = $env:SECRETSPS_CONNECTION_STRING
    $env:SECRETSPS_CONNECTION_STRING = $null
    $script:pg = $null
    $script:pg = Start-TestPostgres
    $script:folder = New-TestFolder -Parent ([IO.Path]::GetTempPath())
}

AfterAll {
    Stop-TestPostgres -Server $script:pg
    if ($script:folder) { Remove-Item -LiteralPath $script:folder -Recurse -Force -ErrorAction Ignore }
    Restore-KeyEnvironment $script:savedEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $script:savedConnection
}

Describe 'Secrets never leak over the whole lifecycle (fresh pwsh, every stream, every log, PostgreSQL)' {
    BeforeAll {
        if (-not $pg.Available) { return }
        $password = 'Sup3r-S3cret-pw'
        $keyFolder = Join-Path $folder 'keys'
        $otherFolder = Join-Path $folder 'other'
        $logFolder = Join-Path $folder 'logs'
        $captureFolder = Join-Path $folder 'capture'
        $null = New-Item -ItemType Directory -Path $keyFolder, $otherFolder, $logFolder, $captureFolder
        $db = New-TestDatabase -Provider PostgreSql -Server $pg
        $null = Invoke-TestSql -Database $db -Sql 'CREATE TABLE usuarios (id integer PRIMARY KEY, otp text)'
        $freePort = & { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); try { $l.LocalEndpoint.Port } finally { $l.Stop() } }

        # The inputs reach the script through a file, so that no secret is part of the script's text (an error's
        # position message quotes the line it happened on).
        $inputs = [ordered]@{
            Key            = Join-Path $keyFolder '.env.crypto'
            OtherKey       = Join-Path $otherFolder '.env.crypto'
            LogFolder      = $logFolder
            Capture        = $captureFolder
            Plain1         = @(1..5 | ForEach-Object { "lifecycle-plain-0$_-ção-✓-7f3a9c$_" })
            Plain2         = @(6..8 | ForEach-Object { "lifecycle-plain-0$_-segredo-b81e4d$_" })
            OtherPlain     = 'foreign-plain-ação-55d2e1'
            RawValue       = 'JBSWY3DPEHPK3PXP-raw-otp-never-encrypted'
            Password       = $password
            ConnectionPw   = "$($db.ConnectionString);Password=$password"
            WrongPortPw    = "Host=127.0.0.1;Port=$freePort;Username=postgres;Password=$password;Database=app;Timeout=3"
            BadSyntaxPw    = "Host=127.0.0.1;Port=$($pg.Port);Username=postgres;Password=$password;Database=$($db.Name);Bogus Option=1"
            ConnectionNoPw = $db.ConnectionString
            Server         = [ordered]@{ Available = $true; Removed = $false; Port = $pg.Port; BinFolder = $pg.BinFolder; AsServiceUser = $pg.AsServiceUser }
            DbName         = $db.Name
        }
        $inputsFile = Join-Path $folder 'inputs.json'
        [IO.File]::WriteAllText($inputsFile, ($inputs | ConvertTo-Json -Depth 5))

        $lifecycle = @'
$ErrorActionPreference = 'Continue'
$VerbosePreference = 'Continue'
$DebugPreference = 'Continue'
$InformationPreference = 'Continue'
$WarningPreference = 'Continue'
$in = Get-Content -Raw -LiteralPath '@INPUTS@' | ConvertFrom-Json
Import-Module '@MODULE@'
Import-Module '@PGMODULE@'
Import-Module '@HELPERS@'
Import-Module '@FIXTURES@'
$captured = [System.Collections.Generic.List[string]]::new()
$summary = [ordered]@{}
$script:n = 0

function Step([string] $Name, [scriptblock] $Block) {
    $script:n++
    $log = Join-Path $in.LogFolder ('{0:00}-{1}.log' -f $script:n, $Name)
    $records = [System.Collections.Generic.List[object]]::new()
    $thrown = $null
    try { foreach ($r in (& $Block $log *>&1)) { $records.Add($r) } } catch { $thrown = $_ }
    $ids = @($records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { ($_.FullyQualifiedErrorId -split ',')[0] })
    if ($thrown) { $ids += ($thrown.FullyQualifiedErrorId -split ',')[0] }
    $kinds = @($records | ForEach-Object { $_.GetType().Name } | Group-Object | ForEach-Object { "$($_.Name)=$($_.Count)" })
    $summary[$Name] = [ordered]@{ ErrorIds = @($ids); Records = $kinds; Log = $log }
    foreach ($r in $records) { $captured.Add("### $Name`n" + (ConvertTo-TestRecordText $r)) }
    if ($thrown) { $captured.Add("### $Name (thrown)`n" + (ConvertTo-TestRecordText $thrown)) }
    $records | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] -and $_ -isnot [System.Management.Automation.InformationalRecord] -and $_ -isnot [System.Management.Automation.InformationRecord] }
}

$pg = $in.Server
$key = $in.Key
$cs = $in.ConnectionPw
$target = @{ Provider = 'PostgreSql'; Table = 'usuarios'; Column = 'otp' }

# ---- the lifecycle ----
$null = Step 'new-config' { param($log) New-EncryptionConfig -Path $key -LogFile $log }
$stored1 = @(Step 'protect-v1' { param($log) $in.Plain1 | Protect-EncryptedValue -Path $key -LogFile $log })
$null = Step 'rotate-v2' { param($log) Invoke-KeyRotation -Path $key -Confirm:$false -PassThru -LogFile $log }
$stored2 = @(Step 'protect-v2' { param($log) $in.Plain2 | Protect-EncryptedValue -Path $key -LogFile $log })
$secure = ConvertTo-SecureString $in.Plain2[0] -AsPlainText -Force
$storedSecure = @(Step 'protect-secure' { param($log) Protect-EncryptedValue -Path $key -Value $secure -LogFile $log })
$null = Step 'rotate-v3' { param($log) Invoke-KeyRotation -Path $key -Confirm:$false -PassThru -LogFile $log }
$null = Step 'rotate-v4' { param($log) Invoke-KeyRotation -Path $key -Force -PassThru -LogFile $log }
$null = Step 'other-config' { param($log) New-EncryptionConfig -Path $in.OtherKey -Version v2 -LogFile $log }
$foreign = @(Step 'protect-other' { param($log) Protect-EncryptedValue -Path $in.OtherKey -Value $in.OtherPlain -LogFile $log })

# Rows: the good values, then values that cannot be re-encrypted: a raw (never encrypted) value, a token of another key
# file under a version this file has, a tampered token, a malformed one, an unknown version; and a NULL.
$parts = Split-StoredValue $stored2[1]
$tokenBytes = [byte[]]$parts.TokenBytes.Clone()
$tokenBytes[30] = $tokenBytes[30] -bxor 0xFF    # a ciphertext byte: the token's HMAC no longer matches
$tampered = Join-StoredValue -Version $parts.Version -TokenBytes $tokenBytes
$rows = @($stored1) + @($stored2) + @($storedSecure) + @($in.RawValue, $foreign[0], $tampered, 'v2:bm90LWEtdG9rZW4', ('v9:' + $stored1[0].Substring(3)))
$values = @(for ($r = 0; $r -lt $rows.Count; $r++) { "($($r + 1), '$($rows[$r])')" }) + @("($($rows.Count + 1), NULL)")
$null = Invoke-TestPsql -Server $pg -Database $in.DbName -Sql ("INSERT INTO usuarios (id, otp) VALUES " + ($values -join ', '))
[IO.File]::WriteAllLines((Join-Path $in.Capture 'stored.txt'), [string[]]($stored1 + $stored2 + $storedSecure + $foreign))

$preview = @(Step 'reencrypt-whatif' { param($log) Start-Reencryption @target -ConnectionString $cs -Path $key -WhatIf -LogFile $log })
$job = @(Step 'reencrypt' { param($log) Start-Reencryption @target -ConnectionString $cs -Path $key -BatchSize 3 -CommitEvery 3 -LogFile $log })
$again = @(Step 'reencrypt-resume' { param($log) Start-Reencryption @target -ConnectionString $cs -Path $key -Resume -LogFile $log })
$status = @(Step 'column-status' { param($log) Get-EncryptedColumnStatus @target -ConnectionString $cs -Path $key -LogFile $log })
$jobs = @(Step 'list-jobs' { param($log) Get-ReencryptJob -Provider PostgreSql -ConnectionString $cs -LogFile $log })
$cleanup = @(Step 'cleanup-keys' { param($log) Remove-UnusedEncryptionKey @target -ConnectionString $cs -Path $key -Keep 1 -Force -LogFile $log })
$ops = @(Step 'cleanup-stats' { param($log) Get-KeyCleanupOperation -Path $key -LogFile $log })
if ($cleanup.Count -gt 0) { $null = Step 'cleanup-stats-id' { param($log) Get-KeyCleanupOperation -Path $key -OperationId $cleanup[0].OperationId -LogFile $log } }
$null = Step 'test-config' { param($log) Test-EncryptionConfig -Path $key -Detailed -LogFile $log }
$null = Step 'list-keys' { param($log) Get-EncryptionKey -Path $key -LogFile $log }
$cred = [pscredential]::new('postgres', (ConvertTo-SecureString $in.Password -AsPlainText -Force))
$null = Step 'status-credential' { param($log) Get-EncryptedColumnStatus @target -ConnectionString $in.ConnectionNoPw -Credential $cred -Path $key -LogFile $log }
$null = Step 'backup' { param($log) Backup-EncryptionConfig -Path $key -LogFile $log }

# ---- failing commands ----
$null = Step 'fail-wrong-port' { param($log) Start-Reencryption @target -ConnectionString $in.WrongPortPw -Path $key -LogFile $log }
$null = Step 'fail-wrong-port-credential' { param($log) Start-Reencryption @target -ConnectionString ($in.WrongPortPw -replace 'Password=[^;]*;', '') -Credential $cred -Path $key -LogFile $log }
$null = Step 'fail-jobs-wrong-port' { param($log) Get-ReencryptJob -Provider PostgreSql -ConnectionString $in.WrongPortPw -LogFile $log }
$null = Step 'fail-missing-table' { param($log) Start-Reencryption -Provider PostgreSql -Table nao_existe -Column otp -ConnectionString $cs -Path $key -LogFile $log }
$null = Step 'fail-bad-connection-string' { param($log) Get-EncryptedColumnStatus @target -ConnectionString $in.BadSyntaxPw -Path $key -LogFile $log }
$null = Step 'fail-cleanup-bad-connection-string' { param($log) Remove-UnusedEncryptionKey @target -ConnectionString $in.BadSyntaxPw -Path $key -Keep 1 -Force -LogFile $log }
$null = Step 'fail-unprotect-tampered' { param($log) Unprotect-EncryptedValue -Path $key -Value $tampered -LogFile $log }
$null = Step 'fail-unprotect-foreign' { param($log) Unprotect-EncryptedValue -Path $key -Value $foreign[0] -LogFile $log }
$null = Step 'fail-unprotect-raw' { param($log) Unprotect-EncryptedValue -Path $key -Value $in.RawValue -LogFile $log }
$null = Step 'fail-protect-unknown-version' { param($log) Protect-EncryptedValue -Path $key -Value $in.Plain1[0] -Version v9 -LogFile $log }
$null = Step 'fail-rotate-existing' { param($log) Invoke-KeyRotation -Path $key -NewVersion v4 -Force -LogFile $log }
$null = Step 'fail-new-existing' { param($log) New-EncryptionConfig -Path $key -LogFile $log }
$null = Step 'cleanup-no-target' { param($log) Remove-UnusedEncryptionKey -Path $key -Keep 1 -Confirm:$false -LogFile $log }
$null = Step 'fail-cleanup-incomplete-target' { param($log) Remove-UnusedEncryptionKey -Provider PostgreSql -Table usuarios -ConnectionString $cs -Path $key -Keep 1 -Force -LogFile $log }
$null = Step 'fail-cleanup-unknown-operation' { param($log) Get-KeyCleanupOperation -Path $key -OperationId 'cleanup_20000101_000000_dead' -LogFile $log }
$broken = Join-Path (Split-Path $key) 'broken.backup'
[IO.File]::WriteAllText($broken, ([IO.File]::ReadAllText($key) -replace 'ENCRYPTION_SALT_HASH__v4="[0-9a-f]+"', ('ENCRYPTION_SALT_HASH__v4="' + ('0' * 64) + '"')))
$null = Step 'fail-restore-bad-backup' { param($log) Restore-EncryptionConfig -Path $key -BackupPath $broken -Force -LogFile $log }
$null = Step 'fail-test-bad-backup' { param($log) Test-EncryptionConfig -Path $broken -Detailed -LogFile $log }
Remove-Item -LiteralPath $broken

# ---- what was shown ----
$outputs = @($preview) + @($job) + @($again) + @($status) + @($jobs) + @($cleanup) + @($ops)
foreach ($o in $outputs) { $captured.Add("### output`n" + ($o | Format-List * -Force | Out-String -Width 4096) + ($o | Out-String -Width 4096)) }
$errorText = @(foreach ($e in $Error) { ConvertTo-TestRecordText $e; if ($e -is [System.Management.Automation.ErrorRecord]) { $x = $e.Exception; while ($x) { $x.GetType().FullName; $x.Message; $x = $x.InnerException } } else { "$e" } }) -join "`n"
[IO.File]::WriteAllText((Join-Path $in.Capture 'streams.txt'), ($captured -join "`n"))
[IO.File]::WriteAllText((Join-Path $in.Capture 'errors.txt'), $errorText)
$summary['job'] = if ($job.Count -gt 0) { [ordered]@{ Id = $job[0].Id; Status = "$($job[0].Status)"; Processed = $job[0].Processed; Errors = $job[0].Errors; Skipped = $job[0].Skipped } } else { $null }
$summary['cleanup'] = if ($cleanup.Count -gt 0) { [ordered]@{ OperationId = $cleanup[0].OperationId; Outcome = "$($cleanup[0].Outcome)" } } else { $null }
$summary['ops'] = $ops.Count
$summary['errorCount'] = $Error.Count
[IO.File]::WriteAllText((Join-Path $in.Capture 'summary.json'), ($summary | ConvertTo-Json -Depth 6))
'LIFECYCLE-DONE'
'@
        $lifecycle = $lifecycle.Replace('@INPUTS@', $inputsFile).Replace('@MODULE@', (Get-SecretsPSModulePath)).
            Replace('@PGMODULE@', (Join-Path $PSScriptRoot 'PostgresServer.psm1')).Replace('@HELPERS@', (Join-Path $PSScriptRoot 'TestHelpers.psm1')).Replace('@FIXTURES@', (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1'))
        $run = Invoke-FreshPwsh -Command $lifecycle -NonInteractive -TimeoutSeconds 180 -WorkingDirectory $folder
        $summaryFile = Join-Path $captureFolder 'summary.json'
        $summary = if (Test-Path -LiteralPath $summaryFile) { Get-Content -Raw -LiteralPath $summaryFile | ConvertFrom-Json -AsHashtable } else { @{} }

        # ---- everything to search ----
        $keyFile = $inputs.Key
        $sources = [ordered]@{
            'streams (every record of every command, and the output objects)' = Get-Content -Raw -LiteralPath (Join-Path $captureFolder 'streams.txt') -ErrorAction Ignore
            '$Error (records and exception chains)'                          = Get-Content -Raw -LiteralPath (Join-Path $captureFolder 'errors.txt') -ErrorAction Ignore
            "the fresh pwsh's stdout and stderr"                              = $run.StdOut + "`n" + $run.StdErr
            'the log files'                                                   = (Get-ChildItem -LiteralPath $logFolder -File | Sort-Object Name | ForEach-Object { [IO.File]::ReadAllText($_.FullName) }) -join "`n"
            'the audit journal'                                               = Get-Content -Raw -LiteralPath "$keyFile.audit.jsonl" -ErrorAction Ignore
            'the job and job-error tables'                                    = (@(Invoke-TestSql -Database $db -Sql 'SELECT * FROM reencrypt_jobs ORDER BY id') + @(Invoke-TestSql -Database $db -Sql 'SELECT * FROM reencrypt_job_errors ORDER BY job_id, row_key')) -join "`n"
        }
        $logFiles = @(Get-ChildItem -LiteralPath $logFolder -File)
        # Every other file the lifecycle left anywhere under its folder (stray temporary files, default-named logs…): all but
        # the key files and their backups, which hold the keys by design, and the test's own inputs.
        $keyFileNames = @(Split-Path -Leaf $inputs.Key)
        $otherFiles = @(Get-ChildItem -LiteralPath $folder -Recurse -File -Force | Where-Object {
                $_.FullName -ne $inputsFile -and $_.Name -notmatch ('^' + [regex]::Escape($keyFileNames[0]) + '(\.backup_\d{8}_\d{6}(_\d+)?)?$')
            })

        $keyMaterial = [Collections.Generic.List[object]]::new()
        $keyFiles = @(Get-Item -Force -LiteralPath $keyFile, $inputs.OtherKey) + @(Get-BackupFiles $keyFile) + @(Get-BackupFiles $inputs.OtherKey)
        foreach ($f in $keyFiles) { foreach ($m in Get-KeyMaterial -Path $f.FullName) { $keyMaterial.Add($m) } }
        $plaintexts = @($inputs.Plain1) + @($inputs.Plain2) + @($inputs.OtherPlain, $inputs.RawValue)
        $textSecrets = @($plaintexts) + @($password)
        # The plaintexts and the password as bytes too (base64, base64url, hex): a debug line must not carry them encoded.
        $encodedSecrets = foreach ($s in $textSecrets) { [pscustomobject]@{ Source = 'inputs'; Version = '-'; What = "a plaintext or the password (length $($s.Length))"; Bytes = [Text.Encoding]::UTF8.GetBytes($s) } }
        $allSecrets = @($keyMaterial) + @($encodedSecrets) + @($textSecrets)
        $storedValues = @(Get-Content -LiteralPath (Join-Path $captureFolder 'stored.txt') -ErrorAction Ignore)
        $versionsInBackups = @($keyMaterial | Where-Object What -EQ 'key' | ForEach-Object { "$($_.Source)|$($_.Version)" })
    }

    BeforeEach {
        if (-not $pg.Available) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It 'ran the whole lifecycle in the fresh pwsh' {
        $run.ExitCode | Should -Be 0 -Because $run.StdErr
        $run.StdOut | Should -Match 'LIFECYCLE-DONE'
        foreach ($step in 'new-config', 'protect-v1', 'rotate-v2', 'protect-v2', 'rotate-v3', 'rotate-v4', 'column-status', 'list-jobs', 'cleanup-keys', 'cleanup-stats', 'cleanup-stats-id', 'test-config', 'list-keys', 'status-credential', 'backup', 'cleanup-no-target') {
            $summary[$step] | Should -Not -BeNullOrEmpty -Because "step $step must have run"
            $summary[$step].ErrorIds | Should -BeNullOrEmpty -Because "step $step must succeed"
        }
        # Two damaged tokens still name older versions: the count at the end keeps the job from 'finished'.
        $summary['job'].Status | Should -Be 'Incomplete'
        $summary['job'].Processed | Should -Be 9
        $summary['job'].Errors | Should -Be 5
        $summary['cleanup'].OperationId | Should -Match '^cleanup_\d{8}_\d{6}_[0-9a-f]{4}$'
        $summary['cleanup'].Outcome | Should -Be 'Succeeded'
        # v1 and v3 were unused and removed; v2 is kept (rows still name it), v4 is active.
        @(Get-EncryptionKey -Path $keyFile | ForEach-Object Version | Sort-Object) | Should -Be @('v2', 'v4')
        $summary['ops'] | Should -BeGreaterOrEqual 1
    }

    It 'the rows that could not be re-encrypted were reported as row errors, each with its own reason' {
        $ids = @($summary['reencrypt'].ErrorIds | Where-Object { $_ -ne 'ReencryptionIncomplete' })
        $ids.Count | Should -Be 5
        @($summary['reencrypt'].ErrorIds)[-1] | Should -Be 'ReencryptionIncomplete'
        $ids | Should -Contain 'NotCiphertext'
        @($ids | Where-Object { $_ -eq 'TokenSignatureInvalid' }).Count | Should -Be 2 -Because 'the token of another key file and the tampered token'
        @($summary['reencrypt-whatif'].ErrorIds).Count | Should -Be 5 -Because '-WhatIf reports the same rows'
        @(Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM reencrypt_job_errors WHERE job_id = $($summary['job'].Id)") | Should -Be '5'
    }

    It 'every failing command failed, with an error record' {
        $expected = @{
            'fail-wrong-port' = 'DatabaseUnavailable'; 'fail-wrong-port-credential' = 'DatabaseUnavailable'; 'fail-jobs-wrong-port' = 'DatabaseUnavailable'
            'fail-missing-table' = 'TargetNotFound'; 'fail-bad-connection-string' = 'ConnectionStringInvalid'; 'fail-cleanup-bad-connection-string' = 'ConnectionStringInvalid'
            'fail-unprotect-tampered' = 'TokenSignatureInvalid'; 'fail-unprotect-foreign' = 'TokenSignatureInvalid'; 'fail-unprotect-raw' = 'StoredValueMalformed'
            'fail-protect-unknown-version' = 'KeyVersionNotFound'; 'fail-rotate-existing' = 'KeyVersionExists'; 'fail-new-existing' = 'KeyFileExists'
            'fail-cleanup-incomplete-target' = 'TargetIncomplete'; 'fail-cleanup-unknown-operation' = 'OperationNotFound'; 'fail-restore-bad-backup' = 'BackupInvalid'
        }
        foreach ($step in $expected.Keys) {
            $summary[$step] | Should -Not -BeNullOrEmpty -Because "step $step must have run"
            @($summary[$step].ErrorIds).Count | Should -BeGreaterThan 0 -Because "step $step must fail"
            if ($expected[$step]) { $summary[$step].ErrorIds | Should -Contain $expected[$step] -Because "step $step" }
        }
    }

    It 'captured a lot to search: verbose, warning, error and output records, a log file per command, the audit journal, the job tables' {
        $sources['streams (every record of every command, and the output objects)'] | Should -Match 'VerboseRecord|VERBOSE|Job \d+'
        $kinds = @($summary.Values | Where-Object { $_ -is [Collections.IDictionary] -and $_.Contains('Records') } | ForEach-Object { $_.Records }) -join ' '
        $kinds | Should -Match 'VerboseRecord='
        $kinds | Should -Match 'WarningRecord='
        $kinds | Should -Match 'ErrorRecord='
        $logFiles.Count | Should -BeGreaterOrEqual 30
        $sources['the log files'] | Should -Match '\[CLEANUP-AUDIT\]'
        $sources['the audit journal'] | Should -Not -BeNullOrEmpty
        $sources['the job and job-error tables'] | Should -Match 'NotCiphertext'
    }

    It 'knows the secrets it looks for: they are found where they belong (key files, inputs)' {
        $keyMaterial.Count | Should -BeGreaterOrEqual 25
        # v1 and v3 were removed by the cleanup: their keys are still known, from the backups.
        ($versionsInBackups -match '\|v1$').Count | Should -BeGreaterThan 0
        ($versionsInBackups -match '\|v3$').Count | Should -BeGreaterThan 0
        Find-SecretInText -Text ([IO.File]::ReadAllText($keyFile)) -Secrets $keyMaterial | Should -Not -BeNullOrEmpty
        $inputsText = [IO.File]::ReadAllText($inputsFile)
        foreach ($s in $textSecrets) { $inputsText.Contains($s) | Should -BeTrue }
        $storedValues.Count | Should -Be 10
    }

    It 'no key, salt, derived key, plaintext or password in <_>' -ForEach @(
        'streams (every record of every command, and the output objects)'
        '$Error (records and exception chains)'
        "the fresh pwsh's stdout and stderr"
        'the log files'
        'the audit journal'
        'the job and job-error tables'
    ) {
        $text = $sources[$_]
        $text | Should -Not -BeNullOrEmpty -Because 'there must be something to search'
        Find-SecretInText -Text $text -Secrets $allSecrets | Should -BeNullOrEmpty
    }

    It 'no key, salt, derived key, plaintext or password in any other file left under the working folder' {
        $otherFiles.Count | Should -BeGreaterOrEqual ($logFiles.Count + 4) -Because 'the logs, the journal, the capture files are among them'
        $hits = foreach ($f in $otherFiles) {
            foreach ($h in Find-SecretInText -Text ([IO.File]::ReadAllText($f.FullName)) -Secrets $allSecrets) { "$($f.FullName): $h" }
        }
        $hits | Should -BeNullOrEmpty
    }

    It 'no stored value (ciphertext) in the job tables' {
        Find-SecretInText -Text $sources['the job and job-error tables'] -Secrets $storedValues | Should -BeNullOrEmpty
    }
}
