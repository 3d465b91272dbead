#Requires -Version 7.4
<#
    Get-KeyCleanupOperation (the seed's cleanup-stats): reads the key file's audit journal (<key file>.audit.jsonl,
    mode 0600) back, by -OperationId (wildcards) and -Last N, as operation objects with their counts and steps.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:Pg = $null # SQLite is enough here
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

    $script:OperationIdPattern = '^cleanup_\d{8}_\d{6}_[0-9a-f]{4}$'

    function New-KeyFileWithVersions {
        param([string] $Folder, [string[]] $Versions)
        $key = New-TestKeyFile -Folder $Folder -Version $Versions[0]
        foreach ($v in @($Versions | Select-Object -Skip 1)) { $null = Invoke-KeyRotation -Path $key -NewVersion $v -Force -WarningAction SilentlyContinue }
        $key
    }
}

AfterAll {
    Restore-KeyEnvironment $script:SavedEnvironment
}

Describe 'Get-KeyCleanupOperation' {
    BeforeAll {
        # Four operations on one key file v1..v5: removed v1; nothing to remove; rolled back; removed v2 and v3.
        $folder = New-TestFolder
        $key = New-KeyFileWithVersions -Folder $folder -Versions 'v1', 'v2', 'v3', 'v4', 'v5'
        $db = New-CleanupDatabase -Provider Sqlite -Folder $folder
        $plain = @('otp-1-ção-secret', 'otp-2-ção-secret')
        New-CleanupTable -Database $db -Table t -Values @($plain | Protect-EncryptedValue -Path $key -Version v2)
        $ops = @(
            Remove-UnusedEncryptionKey -Path $key -Keep 4 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            Remove-UnusedEncryptionKey -Path $key -Keep 1 -WarningAction SilentlyContinue
            # t uses v2 and the usage check is skipped: the sample decryption fails and the change is rolled back.
            Remove-UnusedEncryptionKey -Path $key -Keep 3 -Table t -Column otp -ConnectionString $db.ConnectionString -SkipUsageCheck -Force -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
            Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
        )
    }

    Context 'what the journal holds' {
        It 'has one line per operation, mode 600, beside the key file' {
            $journal = "$key.audit.jsonl"
            Test-Path -LiteralPath $journal | Should -BeTrue
            Get-TestFileMode -Path $journal | Should -Be '600'
            @(Get-Content -LiteralPath $journal).Count | Should -Be $ops.Count
        }

        It 'returns every operation, oldest first, without -OperationId' {
            $all = @(Get-KeyCleanupOperation -Path $key)
            $all.OperationId | Should -Be $ops.OperationId
            $all | ForEach-Object { $_.OperationId | Should -Match $script:OperationIdPattern }
            $all[0].GetType().FullName | Should -Be 'SecretsPS.Core.Audit.KeyCleanupOperation'
        }
    }

    Context '-OperationId' {
        It 'returns the operation with that id, with its counts, versions, backup and steps' {
            $op = Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId
            @($op).Count | Should -Be 1
            $op.Outcome.ToString() | Should -Be 'Succeeded'
            @($op.Removed) | Should -Be @('v1')
            $op.RemovedCount | Should -Be 1
            $op.KeptCount | Should -Be $ops[0].KeptCount
            $op.Keep | Should -Be 4
            $op.KeyFile | Should -Be $key
            $op.BackupPath | Should -Be $ops[0].BackupPath
            $op.Steps.Step | Should -Be $ops[0].Steps.Step
            $op.Steps.Message | Should -Be $ops[0].Steps.Message
            $op.StartedAt | Should -Be $ops[0].StartedAt
        }

        It 'returns a rolled-back operation with its Rollback step and the target counts' {
            $op = Get-KeyCleanupOperation -Path $key -OperationId $ops[2].OperationId
            $op.Outcome.ToString() | Should -Be 'RolledBack'
            @($op.Removed).Count | Should -Be 0
            $op.Steps[-1].Step | Should -Be 'Rollback'
            $op.Message | Should -Match 'SampleDecryptFailed'
        }

        It 'takes wildcards' {
            @(Get-KeyCleanupOperation -Path $key -OperationId 'cleanup_*').Count | Should -Be $ops.Count
            $suffix = $ops[1].OperationId.Substring($ops[1].OperationId.Length - 4)
            (Get-KeyCleanupOperation -Path $key -OperationId "*_$suffix").OperationId | Should -Contain $ops[1].OperationId
            @(Get-KeyCleanupOperation -Path $key -OperationId 'nothing_like_this*').Count | Should -Be 0
        }

        It 'is case-insensitive' {
            (Get-KeyCleanupOperation -Path $key -OperationId $ops[1].OperationId.ToUpperInvariant()).OperationId | Should -Be $ops[1].OperationId
        }

        It 'takes several ids and pipeline input by property name' {
            @(Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId, $ops[3].OperationId).OperationId | Should -Be @($ops[0].OperationId, $ops[3].OperationId)
            ($ops[1] | Get-KeyCleanupOperation -Path $key).OperationId | Should -Be $ops[1].OperationId
        }

        It 'reports an unknown id as a non-terminating OperationNotFound error and still returns the others' {
            $found = @(Get-KeyCleanupOperation -Path $key -OperationId 'cleanup_19990101_000000_dead', $ops[0].OperationId -ErrorVariable notFound -ErrorAction SilentlyContinue)
            $found.OperationId | Should -Be @($ops[0].OperationId)
            $notFound.Count | Should -Be 1
            Assert-SecretsPSError $notFound[0] 'OperationNotFound' 'ObjectNotFound'
            $notFound[0].TargetObject | Should -Be 'cleanup_19990101_000000_dead'
        }
    }

    Context '-Last' {
        It 'returns the newest N, oldest first' {
            (Get-KeyCleanupOperation -Path $key -Last 1).OperationId | Should -Be $ops[-1].OperationId
            @(Get-KeyCleanupOperation -Path $key -Last 2).OperationId | Should -Be @($ops[-2].OperationId, $ops[-1].OperationId)
            @(Get-KeyCleanupOperation -Path $key -Last 100).Count | Should -Be $ops.Count
        }

        It 'applies after -OperationId' {
            (Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId, $ops[1].OperationId -Last 1 -ErrorAction SilentlyContinue).OperationId | Should -Be $ops[1].OperationId
        }

        It 'does not report an id that is in the journal as not found when -Last leaves it out' {
            $null = Get-KeyCleanupOperation -Path $key -OperationId $ops[0].OperationId, $ops[1].OperationId -Last 1 -ErrorVariable e -ErrorAction SilentlyContinue
            $e | Should -BeNullOrEmpty -Because "'$($ops[0].OperationId)' is in the journal: OperationNotFound would be false"
        }
    }

    Context 'an unusual journal' {
        It 'returns nothing, without an error, for a key file that has had no cleanup' {
            $other = New-TestKeyFile
            @(Get-KeyCleanupOperation -Path $other -ErrorVariable e).Count | Should -Be 0
            $e.Count | Should -Be 0
        }

        It 'warns about a damaged line and returns the others' {
            $copyFolder = New-TestFolder
            $copy = New-TestKeyFile -Folder $copyFolder
            $lines = @(Get-Content -LiteralPath "$key.audit.jsonl")
            [IO.File]::WriteAllText("$copy.audit.jsonl", ($lines[0] + "`n" + '{"operationId": "cleanup_broken' + "`n" + $lines[1] + "`n"), [Text.UTF8Encoding]::new($false))
            $read = @(Get-KeyCleanupOperation -Path $copy -WarningVariable w -WarningAction SilentlyContinue)
            $read.OperationId | Should -Be @($ops[0].OperationId, $ops[1].OperationId)
            "$w" | Should -Match '1 line\(s\) of .+\.audit\.jsonl''? could not be read'
        }
    }

    Context 'secrets' {
        It 'neither the journal nor what it returns holds key material or a plaintext' {
            Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath "$key.audit.jsonl") -KeyFile $key -Plaintexts $plain -Where 'the journal'
            Assert-NoKeyMaterial -Text (ConvertTo-StreamText @(Get-KeyCleanupOperation -Path $key -Verbose *>&1)) -KeyFile $key -Plaintexts $plain -Where 'the output'
        }
    }
}
