# Fixtures shared by the key-cleanup Pester files, dot-sourced inside their BeforeAll (it uses the $script:Pg
# server each file starts): databases filled outside SecretsPS (python3's sqlite3, psql), the application's
# independent reader (tests/interop/secretsps_ref.py), stream capture and the key-material scan.
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
        if ($Provider -eq 'MySql') {
            # MariaDB ($script:My, from Start-TestMariaDb): without it the test fails, never skips.
            Assert-TestMariaDb $script:My
            return [pscustomobject]@{ Provider = 'MySql'; ConnectionString = (New-TestMariaDbDatabase -Server $script:My) }
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
        if ($Database.Provider -eq 'MySql') { return Invoke-TestMariaDbSql -Server $script:My -Database $Database.ConnectionString -Sql $Sql }
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
