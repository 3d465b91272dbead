#Requires -Version 7.4
<#
    The rotation walk-through, end to end on SQLite and PostgreSQL, as an operator runs it:
    rotate (Invoke-KeyRotation) → re-encrypt (Start-Reencryption) → prove it complete (Get-EncryptedColumnStatus)
    → clean up (Remove-UnusedEncryptionKey) → and the application's own, independent reader
    (tests/interop/secretsps_ref.py) still reads every row. No log, journal line or stream holds key material.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:SavedConnection = $env:SECRETSPS_CONNECTION_STRING
    Remove-Item Env:SECRETSPS_CONNECTION_STRING -ErrorAction Ignore
    $script:Pg = Start-TestPostgres
    # ---- fixtures of this file: databases filled outside SecretsPS (python3's sqlite3, psql), the application's reader ----
    $script:Python = @('/usr/bin/python3', (Get-Command python3 -CommandType Application -ErrorAction Ignore | Select-Object -First 1 -ExpandProperty Source)) |
        Where-Object { $_ -and (Test-Path -LiteralPath $_) } | Select-Object -First 1
    $script:ReferenceScript = Join-Path $PSScriptRoot '../interop/secretsps_ref.py'
    $script:SqliteHelper = @'
import sys, sqlite3
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
sql = sys.stdin.buffer.read().decode('utf-8')
if sys.argv[2] == 'exec':
    con.executescript(sql)
else:
    for row in con.execute(sql):
        sys.stdout.buffer.write(('|'.join(chr(92) + 'N' if v is None else str(v) for v in row) + chr(10)).encode('utf-8'))
con.close()
'@

    function New-CleanupDatabase {
        # SQLite: a file in the folder (created by the first SQL); PostgreSQL: a fresh database on this file's server ($null without one).
        param([string] $Provider, [string] $Folder)
        if ($Provider -eq 'Sqlite') {
            $path = Join-Path $Folder ('app-' + [guid]::NewGuid().ToString('N').Substring(0, 8) + '.db')
            return [pscustomobject]@{ Provider = 'Sqlite'; ConnectionString = $path }
        }
        if (-not $script:Pg.Available) { return $null }
        [pscustomobject]@{ Provider = 'PostgreSql'; ConnectionString = (New-TestPostgresDatabase -Server $script:Pg) }
    }

    function Invoke-CleanupSql {
        # Runs SQL outside SecretsPS; with -Query returns the rows as 'a|b' strings (NULL as \N).
        param([object] $Database, [string] $Sql, [switch] $Query)
        if ($Database.Provider -eq 'Sqlite') {
            $out = @($Sql | & $script:Python -c $script:SqliteHelper $Database.ConnectionString $(if ($Query) { 'query' } else { 'exec' }) 2>&1)
            $stderr = @($out | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) -join "`n"
            if ($LASTEXITCODE -ne 0) { throw "python3 sqlite3 failed ($LASTEXITCODE): $stderr" }
            return $out | Where-Object { $_ -isnot [Management.Automation.ErrorRecord] }
        }
        Invoke-TestPsql -Server $script:Pg -Database $Database.ConnectionString -Sql $Sql
    }

    function New-CleanupTable {
        # CREATE TABLE <Table> (id INTEGER PRIMARY KEY, <Column> TEXT) with rows id = 1..N holding -Values ($null = NULL).
        param([object] $Database, [string] $Table, [AllowEmptyCollection()][AllowNull()][object[]] $Values = @(), [string] $Column = 'otp')
        $sql = "CREATE TABLE `"$Table`" (id INTEGER PRIMARY KEY, `"$Column`" TEXT);"
        $rows = for ($i = 0; $i -lt $Values.Count; $i++) {
            $v = $Values[$i]
            "($($i + 1), $(if ($null -eq $v) { 'NULL' } else { "'" + ([string]$v).Replace("'", "''") + "'" }))"
        }
        if ($rows) { $sql += " INSERT INTO `"$Table`" (id, `"$Column`") VALUES $($rows -join ', ');" }
        $null = Invoke-CleanupSql -Database $Database -Sql $sql
    }

    function Get-CleanupRows {
        # The column in key order: { Key; Value ($null for NULL) }.
        param([object] $Database, [string] $Table, [string] $Column = 'otp')
        foreach ($line in @(Invoke-CleanupSql -Database $Database -Sql "SELECT id, `"$Column`" FROM `"$Table`" ORDER BY id" -Query)) {
            $k, $v = $line -split '\|', 2
            [pscustomobject]@{ Key = $k; Value = $(if ($v -eq '\N') { $null } else { $v }) }
        }
    }

    function Test-ApplicationReader {
        if ($null -eq $script:ReaderOk) {
            $script:ReaderOk = $false
            if ($script:Python -and (Test-Path -LiteralPath $script:ReferenceScript) -and
                (Select-String -LiteralPath $script:ReferenceScript -Pattern 'check-rows' -SimpleMatch -Quiet)) {
                $null = & $script:Python -c 'import cryptography.fernet' 2>&1
                $script:ReaderOk = $LASTEXITCODE -eq 0
            }
        }
        $script:ReaderOk
    }

    function Read-WithApplication {
        <#
            Every row of the column as the application reads it, in key order: the plaintext, or $null for NULL.
            The reader is tests/interop/secretsps_ref.py (read-sqlite / check-rows; Python's cryptography, no code
            shared with SecretsPS), which fails on any value that does not decrypt or, with -ExpectVersion, is under
            another version. Without python3 + cryptography it falls back to Unprotect-EncryptedValue and says so.
        #>
        param([object] $Database, [string] $KeyFile, [string] $Table, [string] $Column = 'otp', [string] $ExpectVersion)
        if (-not (Test-ApplicationReader)) {
            Write-Host "NOTE: secretsps_ref.py is not usable here (python3 + cryptography); rows read with Unprotect-EncryptedValue instead."
            return , @(Get-CleanupRows -Database $Database -Table $Table -Column $Column | ForEach-Object {
                    if ($null -eq $_.Value) { $null } else {
                        if ($ExpectVersion) { $_.Value | Should -BeLike "$($ExpectVersion):*" }
                        Unprotect-EncryptedValue -Path $KeyFile -Value $_.Value -ErrorAction Stop
                    } })
        }
        $arguments = @('--key-file', $KeyFile, '--ignore-environment')
        if ($ExpectVersion) { $arguments += @('--expect-version', $ExpectVersion) }
        if ($Database.Provider -eq 'Sqlite') {
            $lines = & $script:Python $script:ReferenceScript read-sqlite @arguments --db $Database.ConnectionString --table $Table --column $Column --key-column id 2>&1
        } else {
            $rows = @(Get-CleanupRows -Database $Database -Table $Table -Column $Column | ForEach-Object { "$($_.Key)`t$(if ($null -eq $_.Value) { '\N' } else { $_.Value })" })
            $lines = $rows | & $script:Python $script:ReferenceScript check-rows @arguments 2>&1
        }
        $failed = $LASTEXITCODE -ne 0
        $stderr = @($lines | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) -join "`n"
        if ($failed) { throw "The application's reader (secretsps_ref.py) failed: $stderr" }
        , @(foreach ($line in @($lines | Where-Object { $_ -isnot [Management.Automation.ErrorRecord] })) {
                $k, $hex = $line -split "`t", 2
                if ($hex -eq 'NULL') { $null } else { [Text.Encoding]::UTF8.GetString([Convert]::FromHexString($hex)) }
            })
    }

    function ConvertTo-StreamText {
        # Everything captured records and objects carry, as text (messages, error ids, targets, exceptions, object properties).
        param([AllowNull()][AllowEmptyCollection()][object[]] $Records)
        @(foreach ($r in $Records) {
                if ($null -eq $r) { continue }
                if ($r -is [Management.Automation.ErrorRecord]) {
                    $r.ToString(); $r.FullyQualifiedErrorId; [string]$r.TargetObject
                    if ($r.ErrorDetails) { $r.ErrorDetails.Message }
                    if ($r.Exception) { $r.Exception.ToString() }
                } elseif ($r -is [Management.Automation.InformationalRecord]) { $r.Message }
                elseif ($r -is [Management.Automation.InformationRecord]) { [string]$r.MessageData }
                else {
                    $r | Format-List * -Force | Out-String -Width 500
                    try { $r | ConvertTo-Json -Depth 6 -Compress -WarningAction SilentlyContinue } catch { }
                }
            }) -join "`n"
    }

    function Assert-NoKeyMaterial {
        # No key, salt or derived key of the key file or of any of its backups (base64, base64url, hex) and no plaintext is in the text.
        param([AllowEmptyString()][string] $Text, [string] $KeyFile, [string[]] $Plaintexts = @(), [string] $Where)
        $material = @(Get-KeyMaterial -Path $KeyFile) + @(Get-BackupFiles -Path $KeyFile | ForEach-Object { Get-KeyMaterial -Path $_.FullName })
        @($material | Where-Object What -In 'key', 'salt').Count | Should -BeGreaterThan 1 -Because 'the scan must find the key file''s secrets'
        $hits = @(Find-SecretInText -Text $Text -Secrets (@($material) + @($Plaintexts | Where-Object { $_ })))
        $hits | Should -BeNullOrEmpty -Because "$Where must hold no key material or plaintext"
    }

    function Get-JournalLines {
        # The journal's lines as objects (none when there is no journal).
        param([string] $KeyFile)
        $journal = "$KeyFile.audit.jsonl"
        if (-not (Test-Path -LiteralPath $journal)) { return }
        Get-Content -LiteralPath $journal | Where-Object { $_ } | ForEach-Object { $_ | ConvertFrom-Json }
    }

    function Invoke-Step {
        # Runs one step with -Verbose streams merged; keeps their text for the no-secrets check; returns the output objects.
        param([hashtable] $State, [scriptblock] $Step)
        $records = @(& $Step *>&1)
        $State.Streams.Add((ConvertTo-StreamText $records))
        $records | Where-Object {
            $_ -isnot [Management.Automation.ErrorRecord] -and $_ -isnot [Management.Automation.InformationalRecord] -and $_ -isnot [Management.Automation.InformationRecord]
        }
    }

    function Skip-WithoutDatabase {
        param([AllowNull()] $Database)
        if ($null -eq $Database) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)" }
    }
}

AfterAll {
    Stop-TestPostgres -Server $script:Pg
    Restore-KeyEnvironment $script:SavedEnvironment
    if ($script:SavedConnection) { $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection }
}

Describe 'Rotation walk-through on <Provider>: rotate, re-encrypt, status complete, cleanup' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }) {
    BeforeAll {
        $folder = New-TestFolder
        $db = New-CleanupDatabase -Provider $Provider -Folder $folder
        $s = @{ Streams = [Collections.Generic.List[string]]::new() }
        if ($db) {
            $key = New-TestKeyFile -Folder $folder -Version v1
            $log = Join-Path $folder 'walkthrough.log'
            $dbArgs = @{ Provider = $db.Provider; ConnectionString = $db.ConnectionString; LogFile = $log }
            $tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
            # What the application stored under v1: 40 secrets and two NULLs.
            $plain = @(1..40 | ForEach-Object { "otp-$_-ção-walk-$tag" }) + @($null, $null)
            $stored = @($plain[0..39] | Protect-EncryptedValue -Path $key) + @($null, $null)
            New-CleanupTable -Database $db -Table users -Values $stored
        }
    }

    It 'before the rotation, the application reads every row, each under v1' {
        Skip-WithoutDatabase $db
        $read = Read-WithApplication -Database $db -KeyFile $key -Table users -ExpectVersion v1
        $read | Should -Be $plain
    }

    It 'rotate: Invoke-KeyRotation adds v2 and makes it active; the column is not complete yet' {
        Skip-WithoutDatabase $db
        $null = Invoke-Step $s { Invoke-KeyRotation -Path $key -Force -LogFile $log -Verbose }
        (Get-EncryptionKey -Path $key | Where-Object IsActive).Version | Should -Be 'v2'
        $status = Invoke-Step $s { Get-EncryptedColumnStatus -Path $key -Table users -Column otp @dbArgs -Verbose }
        $status.IsComplete | Should -BeFalse
        $status.RowsByVersion['v1'] | Should -Be 40
        $status.AtActiveVersion | Should -Be 0
        $status.NullRows | Should -Be 2
        $read = Read-WithApplication -Database $db -KeyFile $key -Table users -ExpectVersion v1
        $read | Should -Be $plain
    }

    It 'a cleanup before the re-encryption keeps v1, because every row still uses it, and changes nothing' {
        Skip-WithoutDatabase $db
        $hash = Get-FileHashString $key
        $op = Invoke-Step $s { Remove-UnusedEncryptionKey -Path $key -Table users -Column otp -Keep 1 -Force @dbArgs -Verbose }
        $op.Outcome.ToString() | Should -Be 'NothingToRemove'
        ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Match 'still used by 40 row\(s\) of users\.otp'
        Get-FileHashString $key | Should -Be $hash
    }

    It 're-encrypt: Start-Reencryption moves every value to v2' {
        Skip-WithoutDatabase $db
        $job = Invoke-Step $s { Start-Reencryption -Path $key -Table users -Column otp -BatchSize 16 -CommitEvery 16 @dbArgs -Verbose }
        $job.Status.ToString() | Should -Be 'Finished'
        $job.TargetVersion | Should -Be 'v2'
        $job.Processed | Should -Be 40
        $job.Errors | Should -Be 0
    }

    It 'status: complete — every non-NULL value is at v2, the NULLs stay NULL' {
        Skip-WithoutDatabase $db
        $status = Invoke-Step $s { Get-EncryptedColumnStatus -Path $key -Table users -Column otp @dbArgs -Verbose }
        $status.IsComplete | Should -BeTrue
        $status.AtActiveVersion | Should -Be 40
        @($status.RowsByVersion.Keys) | Should -Be @('v2')
        $status.NullRows | Should -Be 2
        $status.NotCiphertext | Should -Be 0
    }

    It 'cleanup: the status piped to Remove-UnusedEncryptionKey removes v1, after a backup' {
        Skip-WithoutDatabase $db
        $s.Before = [IO.File]::ReadAllBytes($key)
        $op = Invoke-Step $s {
            Get-EncryptedColumnStatus -Path $key -Table users -Column otp @dbArgs |
                Remove-UnusedEncryptionKey -Path $key -Keep 1 -Force @dbArgs -Verbose
        }
        $s.Operation = $op
        $op.Outcome.ToString() | Should -Be 'Succeeded'
        @($op.Removed) | Should -Be @('v1')
        [IO.File]::ReadAllBytes($op.BackupPath) | Should -Be $s.Before
        (Get-EncryptionKey -Path $key).Version | Should -Be @('v2')
        Test-EncryptionConfig -Path $key | Should -BeTrue
    }

    It 'the application''s independent reader still reads every row, each under v2' {
        Skip-WithoutDatabase $db
        $read = Read-WithApplication -Database $db -KeyFile $key -Table users -ExpectVersion v2
        $read | Should -Be $plain
    }

    It 'Get-KeyCleanupOperation reads both cleanups back from the journal' {
        Skip-WithoutDatabase $db
        $ops = @(Get-KeyCleanupOperation -Path $key -Last 2)
        $ops.Outcome.ForEach({ $_.ToString() }) | Should -Be @('NothingToRemove', 'Succeeded')
        $ops[-1].OperationId | Should -Be $s.Operation.OperationId
        (Get-KeyCleanupOperation -Path $key -OperationId $s.Operation.OperationId).Removed | Should -Be @('v1')
    }

    It 'the log has the [CLEANUP-AUDIT] and [CLEANUP-SUMMARY] lines of both cleanups' {
        Skip-WithoutDatabase $db
        $lines = @(Get-Content -LiteralPath $log)
        $lines | ForEach-Object { $_ | Should -Match '^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - SecretsPS\.Commands\.[A-Za-z]+ - (DEBUG|INFO|WARNING|ERROR) - \S' }
        @($lines | Where-Object { $_ -match ' - SecretsPS\.Commands\.RemoveUnusedEncryptionKey - (INFO|ERROR) - \[CLEANUP-SUMMARY\] ' }).Count | Should -Be 2
        $lines | Where-Object { $_ -match "\[CLEANUP-AUDIT\] Operation started - ID: $($s.Operation.OperationId)" } | Should -HaveCount 1
    }

    It 'no log line, journal line or stream holds key material (the removed v1''s included) or a plaintext' {
        Skip-WithoutDatabase $db
        @(Get-BackupFiles -Path $key | ForEach-Object { Get-KeyMaterial -Path $_.FullName } | Where-Object Version -EQ 'v1').Count | Should -BeGreaterThan 0
        $secrets = @($plain | Where-Object { $_ })
        Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath $log) -KeyFile $key -Plaintexts $secrets -Where 'the -LogFile'
        Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath "$key.audit.jsonl") -KeyFile $key -Plaintexts $secrets -Where 'the journal'
        Assert-NoKeyMaterial -Text ($s.Streams -join "`n") -KeyFile $key -Plaintexts $secrets -Where 'the streams of every step'
    }
}
