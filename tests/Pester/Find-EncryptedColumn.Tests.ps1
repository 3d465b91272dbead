#Requires -Version 7.4
<#
    Find-EncryptedColumn and the cleanup that cannot miss a column, on SQLite and PostgreSQL, as an operator runs them:
    the issue's database (usuarios._otp_secret at the active version, the forgotten api_tokens.secret still at v1, decoys
    beside them) is searched, read-only; the found columns pipe into Remove-UnusedEncryptionKey; a cleanup that names only
    usuarios._otp_secret keeps v1 and names api_tokens.secret (VersionUsedByUnnamedColumn); -WhatIf shows what the search
    found; -SkipDiscovery is in the journal; the default view fits 80 columns.
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
    . (Join-Path $PSScriptRoot 'CleanupFixtures.ps1')

    function New-IssueDatabase {
        <#
            A key file v1, v2, v3 (v3 active) and a database of its own: usuarios._otp_secret at v3, api_tokens.secret at
            v1 (the forgotten column), and decoys that hold no stored value. Returns { Key; Db; Args } or $null without it.
        #>
        param([string] $Provider, [switch] $JobTableDecoy)
        $folder = New-TestFolder
        $db = New-CleanupDatabase -Provider $Provider -Folder $folder
        if ($null -eq $db) { return $null }
        $key = New-TestKeyFile -Folder $folder -Version v1
        foreach ($v in 'v2', 'v3') { $null = Invoke-KeyRotation -Path $key -NewVersion $v -Force -WarningAction SilentlyContinue }
        New-CleanupTable -Database $db -Table usuarios -Column _otp_secret -Values @('otp 1', 'otp 2' | Protect-EncryptedValue -Path $key -Version v3)
        New-CleanupTable -Database $db -Table api_tokens -Column secret -Values @(@('token 1', 'token 2', 'token 3' | Protect-EncryptedValue -Path $key -Version v1) + @($null))
        $json = '{"token": "' + (Protect-EncryptedValue -Path $key -Value j -Version v1) + '"}'
        New-CleanupTable -Database $db -Table decoys -Column note -Values @('a:b', 'v1:notatoken', $json, 'https://user:pw@host', '')
        $null = Invoke-CleanupSql -Database $db -Sql "CREATE TABLE amounts (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO amounts VALUES (1, 42);"
        # A job table holding a stored value on purpose (not the real job table's columns): it is never searched.
        if ($JobTableDecoy) {
        $jobValue = (Protect-EncryptedValue -Path $key -Value k -Version v1)
        $null = Invoke-CleanupSql -Database $db -Sql "CREATE TABLE reencrypt_jobs (id INTEGER PRIMARY KEY, last_key TEXT); INSERT INTO reencrypt_jobs VALUES (1, '$jobValue');"
        }
        [pscustomobject]@{ Key = $key; Db = $db; Args = @{ Path = $key; Provider = $db.Provider; ConnectionString = $db.ConnectionString } }
    }

    function Skip-WithoutDatabase {
        param([AllowNull()] $Fixture)
        if ($null -eq $Fixture) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)" }
    }
}

AfterAll {
    Stop-TestPostgres -Server $script:Pg
    Restore-KeyEnvironment $script:SavedEnvironment
    if ($script:SavedConnection) { $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection }
}

Describe 'Find-EncryptedColumn on <Provider>' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }) {
    Context 'the issue''s database' {
        BeforeAll {
            $f = New-IssueDatabase -Provider $Provider -JobTableDecoy
            if ($f) {
                $db = $f.Args
                $hashBefore = (Get-FileHash -LiteralPath $f.Key).Hash
                $dbBefore = if ($f.Db.Provider -eq 'Sqlite') { (Get-FileHash -LiteralPath $f.Db.ConnectionString).Hash }
                $found = @(Find-EncryptedColumn @db -ErrorVariable findErrors)
                $sampled = @(Find-EncryptedColumn @db -SampleRows 2)
            }
        }

        It 'finds usuarios._otp_secret and the forgotten api_tokens.secret, with their counts by version' {
            Skip-WithoutDatabase $f
            $found.Target | Sort-Object | Should -Be @('api_tokens.secret', 'usuarios._otp_secret')
            ($found | Where-Object Target -EQ 'api_tokens.secret').Versions | Should -Be 'v1=3'
            ($found | Where-Object Target -EQ 'api_tokens.secret').RowsByVersion['v1'] | Should -Be 3
            ($found | Where-Object Target -EQ 'usuarios._otp_secret').Versions | Should -Be 'v3=2'
            $found | ForEach-Object { $_.GetType().FullName | Should -Be 'SecretsPS.Core.Discovery.EncryptedColumn'; $_.Sampled | Should -BeFalse }
            $findErrors | Should -BeNullOrEmpty
        }

        It 'finds no decoy: text with a colon, v1:notatoken, JSON, a number column, the job tables' {
            Skip-WithoutDatabase $f
            $found.Table | Should -Not -Contain 'decoys'
            $found.Table | Should -Not -Contain 'amounts'
            $found.Table | Should -Not -Contain 'reencrypt_jobs'
        }

        It 'reads a bounded sample with -SampleRows and says so' {
            Skip-WithoutDatabase $f
            $sampled.Target | Sort-Object | Should -Be @('api_tokens.secret', 'usuarios._otp_secret')
            $tokens = $sampled | Where-Object Target -EQ 'api_tokens.secret'
            $tokens.Sampled | Should -BeTrue
            $tokens.RowsRead | Should -Be 2
        }

        It 'changes nothing: the key file and the SQLite file are byte-identical' {
            Skip-WithoutDatabase $f
            (Get-FileHash -LiteralPath $f.Key).Hash | Should -Be $hashBefore
            if ($dbBefore) { (Get-FileHash -LiteralPath $f.Db.ConnectionString).Hash | Should -Be $dbBefore }
        }

        It 'filters by -Table' {
            Skip-WithoutDatabase $f
            @(Find-EncryptedColumn @db -Table api_tokens).Target | Should -Be @('api_tokens.secret')
            @(Find-EncryptedColumn @db -Table decoys) | Should -BeNullOrEmpty
        }

        It 'shows a default view that fits 80 columns, with every column name and count' {
            Skip-WithoutDatabase $f
            $text = $found | Out-String -Width 80
            $lines = $text -split "`r?`n" | Where-Object { $_.Trim() }
            $lines[0] | Should -Match '^Target\s+Encrypted\s+Read\s+Versions$'
            $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual 80 }
            $text | Should -Match 'api_tokens\.secret\s+3\s+all 4\s+v1=3'
            $text | Should -Match 'usuarios\._otp_secret\s+2\s+all 2\s+v3=2'
            ($found | Out-String -Width 120) | Should -Match 'api_tokens\.secret\s+3\s+all 4\s+v1=3'
        }

        It 'names every column it did not reach within -MaxDuration as ColumnNotSearched' {
            Skip-WithoutDatabase $f
            $out = @(Find-EncryptedColumn @db -MaxDuration 0 -ErrorVariable late -ErrorAction SilentlyContinue)
            $out | Should -BeNullOrEmpty
            $late.FullyQualifiedErrorId | ForEach-Object { $_ | Should -BeLike 'ColumnNotSearched,*' }
            $late.TargetObject | Should -Contain 'api_tokens.secret'
        }
    }

    Context 'a cleanup that names only usuarios._otp_secret' {
        BeforeAll {
            $f = New-IssueDatabase -Provider $Provider
            if ($f) {
                $db = $f.Args
                $whatIf = @(Remove-UnusedEncryptionKey @db -Table usuarios -Column _otp_secret -Keep 1 -WhatIf -ErrorVariable whatIfErrors -ErrorAction SilentlyContinue -WarningAction SilentlyContinue -InformationVariable shown 6>$null)
                $hashAfterWhatIf = (Get-FileHash -LiteralPath $f.Key).Hash
                $hashBefore = $hashAfterWhatIf
                $op = Remove-UnusedEncryptionKey @db -Table usuarios -Column _otp_secret -Keep 1 -Force -ErrorVariable refused -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
            }
        }

        It 'keeps v1, which api_tokens.secret still holds, and removes the unused v2' {
            Skip-WithoutDatabase $f
            $op.Removed | Should -Be @('v2')
            (Get-EncryptionKey -Path $f.Key).Version | Should -Contain 'v1'
            (Get-EncryptionKey -Path $f.Key).Version | Should -Not -Contain 'v2'
            ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Match 'api_tokens\.secret'
        }

        It 'refuses with VersionUsedByUnnamedColumn naming api_tokens.secret' {
            Skip-WithoutDatabase $f
            $refused.Count | Should -Be 1
            $refused[0].FullyQualifiedErrorId | Should -BeLike 'VersionUsedByUnnamedColumn,*'
            $refused[0].TargetObject | Should -Be 'api_tokens.secret'
            $refused[0].Exception.Message | Should -Match 'Version v1 was not removed: api_tokens\.secret'
            $refused[0].Exception.Message | Should -Match '-Table api_tokens -Column secret'
        }

        It 'under -WhatIf, changes nothing and shows what the search found' {
            Skip-WithoutDatabase $f
            $whatIf[0].Outcome | Should -Be 'NotConfirmed'
            ($shown.MessageData.Message -join "`n") | Should -Match 'api_tokens\.secret \(v1=3\), NOT named'
            ($shown.MessageData.Message -join "`n") | Should -Match 'usuarios\._otp_secret \(v3=2\), a named target'
            $whatIfErrors.FullyQualifiedErrorId | Should -BeLike 'VersionUsedByUnnamedColumn,*'
            $whatIf[0].Discovered.Target | Sort-Object | Should -Be @('api_tokens.secret', 'usuarios._otp_secret')
        }
    }

    Context 'the pipeline form: Find-EncryptedColumn @db | Remove-UnusedEncryptionKey @db -Keep 1' {
        BeforeAll {
            $f = New-IssueDatabase -Provider $Provider
            if ($f) {
                $db = $f.Args
                $op = Find-EncryptedColumn @db | Remove-UnusedEncryptionKey @db -Keep 1 -Force -ErrorVariable piped -WarningAction SilentlyContinue
            }
        }

        It 'checks every piped column in one operation: v1 kept for api_tokens.secret, v2 removed, no error' {
            Skip-WithoutDatabase $f
            @($op).Count | Should -Be 1
            $op.Targets.Table | Sort-Object | Should -Be @('api_tokens', 'usuarios')
            $op.Removed | Should -Be @('v2')
            ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Match '^still used by 3 row\(s\) of api_tokens\.secret'
            $piped | Should -BeNullOrEmpty
            $op.Discovered | ForEach-Object { $_.Named | Should -BeTrue }
        }

        It 'removes v1 once api_tokens.secret is re-encrypted' {
            Skip-WithoutDatabase $f
            $null = Start-Reencryption @db -Table api_tokens -Column secret -Confirm:$false -WarningAction SilentlyContinue
            $again = Find-EncryptedColumn @db | Remove-UnusedEncryptionKey @db -Keep 1 -Force -WarningAction SilentlyContinue
            $again.Removed | Should -Be @('v1')
            (Get-EncryptionKey -Path $f.Key).Version | Should -Be @('v3')
            $rows = Read-WithApplication -Database $f.Db -KeyFile $f.Key -Table api_tokens -Column secret -ExpectVersion v3
            $rows[0..2] | Should -Be @('token 1', 'token 2', 'token 3')
            $rows[3] | Should -BeNullOrEmpty
        }
    }

    Context '-SkipDiscovery' {
        BeforeAll {
            $f = New-IssueDatabase -Provider $Provider
            if ($f) {
                $db = $f.Args
                $op = Remove-UnusedEncryptionKey @db -Table usuarios -Column _otp_secret -Keep 1 -Force -SkipDiscovery -WarningVariable warned -WarningAction SilentlyContinue
            }
        }

        It 'checks only the named target, warns, and records it in the operation and the journal' {
            Skip-WithoutDatabase $f
            $op.DiscoverySkipped | Should -BeTrue
            $op.Removed | Sort-Object | Should -Be @('v1', 'v2')
            ($warned -join "`n") | Should -Match '-SkipDiscovery'
            (Get-KeyCleanupOperation -Path $f.Key | Select-Object -Last 1).DiscoverySkipped | Should -BeTrue
            (Get-JournalLines -KeyFile $f.Key | Select-Object -Last 1).discoverySkipped | Should -BeTrue
        }
    }
}

Describe 'Find-EncryptedColumn default view' {
    It 'shows every version of a column on its own line, within 80 columns, with no count cut' {
        $f = New-IssueDatabase -Provider Sqlite
        $db = $f.Args
        $values = foreach ($v in 'v2', 'v2', 'v3') { "('" + (Protect-EncryptedValue -Path $f.Key -Value x -Version $v) + "')" }
        $long = 'customer_payment_methods_archive'
        $null = Invoke-CleanupSql -Database $f.Db -Sql "CREATE TABLE $long (encrypted_card_number TEXT); INSERT INTO $long VALUES $($values -join ', '); INSERT INTO api_tokens (id, secret) VALUES (9, '$(Protect-EncryptedValue -Path $f.Key -Value y -Version v3)');"

        $lines = @((Find-EncryptedColumn @db | Out-String -Width 80) -split "`r?`n" | Where-Object { $_.Trim() })

        $lines | ForEach-Object { $_.Length | Should -BeLessOrEqual 80 }
        $lines | Should -Contain ($lines | Where-Object { $_ -match '^api_tokens\.secret\s+4\s+all 5 v1=3$' })
        $lines | Where-Object { $_ -match '^\s+v3=1$' } | Should -HaveCount 1 -Because 'api_tokens.secret''s second version is on a line of its own'
        $lines | Where-Object { $_ -match '^customer_payment_methods_archive\s+3\s+all 3 v2=2$' } | Should -HaveCount 1
        $lines | Where-Object { $_ -match '^\.encrypted_card_number\s+v3=1$' } | Should -HaveCount 1
    }
}

Describe 'Find-EncryptedColumn secrets and log' {
    It 'puts no key material or value in its streams, its objects or its -LogFile on <Provider>' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }) {
        $f = New-IssueDatabase -Provider $Provider
        if ($null -eq $f) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)"; return }
        $db = $f.Args
        $log = Join-Path (Split-Path $f.Key) 'find.log'
        $records = @(Find-EncryptedColumn @db -LogFile $log -Verbose *>&1)
        $records += @(Remove-UnusedEncryptionKey @db -Table usuarios -Column _otp_secret -Keep 1 -Force -LogFile $log -Verbose -ErrorAction SilentlyContinue *>&1)
        $text = (ConvertTo-StreamText $records) + "`n" + (Get-Content -LiteralPath $log -Raw) + "`n" + (Get-Content -LiteralPath "$($f.Key).audit.jsonl" -Raw)
        $values = @(Get-CleanupRows -Database $f.Db -Table api_tokens -Column secret | Where-Object Value | ForEach-Object Value)
        Assert-NoKeyMaterial -Text $text -KeyFile $f.Key -Plaintexts (@('token 1', 'token 2', 'token 3', 'otp 1', 'otp 2') + $values) -Where 'Find-EncryptedColumn and the cleanup'
        (Get-Content -LiteralPath $log) | Where-Object { $_ -match 'FindEncryptedColumn - INFO - api_tokens\.secret: v1=3' } | Should -Not -BeNullOrEmpty
    }
}

Describe 'Find-EncryptedColumn with hostile identifiers and schemas' {
    It 'finds a column whose table and column names hold quotes, dots and SQL, and pipes it back on <Provider>' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }) {
        $f = New-IssueDatabase -Provider $Provider
        if ($null -eq $f) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)"; return }
        $db = $f.Args
        $value = Protect-EncryptedValue -Path $f.Key -Value hostile -Version v2
        $null = Invoke-CleanupSql -Database $f.Db -Sql "CREATE TABLE `"we.ird`"`"t`" (id INTEGER PRIMARY KEY, `"c`"`"; DROP TABLE usuarios;--`" TEXT); INSERT INTO `"we.ird`"`"t`" VALUES (1, '$value');"

        $hostile = @(Find-EncryptedColumn @db | Where-Object Column -Like 'c"*')

        $hostile.Count | Should -Be 1
        $hostile[0].Table | Should -Be '"we.ird""t"'
        $status = $hostile[0] | Get-EncryptedColumnStatus @db
        $status.RowsByVersion['v2'] | Should -Be 1
        @(Find-EncryptedColumn @db -Table usuarios).Count | Should -Be 1 -Because 'usuarios was not dropped'
    }

    It 'qualifies a table outside the default schema and filters by -Schema on PostgreSql' {
        $f = New-IssueDatabase -Provider PostgreSql
        if ($null -eq $f) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)"; return }
        $db = $f.Args
        $value = Protect-EncryptedValue -Path $f.Key -Value s -Version v1
        $null = Invoke-CleanupSql -Database $f.Db -Sql "CREATE SCHEMA billing; CREATE TABLE billing.cards (id bigint PRIMARY KEY, pan varchar(300)); INSERT INTO billing.cards VALUES (1, '$value');"

        (Find-EncryptedColumn @db).Target | Should -Contain 'billing.cards.pan'
        @(Find-EncryptedColumn @db -Schema billing).Target | Should -Be @('billing.cards.pan')
        $op = Remove-UnusedEncryptionKey @db -Table usuarios -Column _otp_secret -Keep 1 -WhatIf -ErrorVariable refused -ErrorAction SilentlyContinue -WarningAction SilentlyContinue 6>$null
        $refused.TargetObject | Should -Contain 'billing.cards.pan'
    }
}
