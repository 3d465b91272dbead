#Requires -Version 7.4
<#
    Sign-in with an access token over TLS, on a second PostgreSQL that takes TCP over TLS only (Start-TestPostgres -Tls:
    a CA the test made with openssl, hostssl-only pg_hba.conf, scram-sha-256) and a role whose password is a
    900-character token, as cloud IAM sign-in uses one: the whole lifecycle with -AccessToken and
    SSL Mode=VerifyFull;Root Certificate=ca.crt; a certificate from another CA refused as DatabaseTlsFailed with nothing
    written; a wrong token refused as DatabaseAuthenticationFailed. The token appears in no stream, error (with its whole
    exception chain), log file or job table.
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
    $script:tls = $null
    $script:tls = Start-TestPostgres -Tls
    $script:captured = [Collections.Generic.List[string]]::new()
    $script:logFolder = New-TestFolder

    function New-TestToken {
        # 900 characters of the alphabet a JWT uses.
        $alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
        -join (Get-RandomBytes 900 | ForEach-Object { $alphabet[$_ % $alphabet.Length] })
    }

    # Runs the block with every stream captured, keeps its text for the leak scan, and returns the capture.
    function Invoke-Captured([scriptblock] $Block) {
        $c = Invoke-TestCapture $Block
        $script:captured.Add($c.Text)
        $c
    }

    if ($script:tls.Available) {
        $script:key = New-TestRotatedKeyFile -Folder (New-TestFolder)
        $script:db = New-TestDatabase -Provider PostgreSql -Server $script:tls
        $script:plain = New-TestPlaintext 30 'token' -NullKeys 4
        New-TestSecretTable -Database $script:db -Table usuarios -Values (New-TestStoredValue $script:plain $script:key -Version v1)
        $script:role = 'runbook_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $script:token = New-TestToken
        New-TestPostgresRole -Server $script:tls -Name $script:role -Password $script:token -Database $script:db.Name
        $null = Invoke-TestSql -Database $script:db -Sql "ALTER TABLE usuarios OWNER TO `"$($script:role)`""
        $script:secureToken = ConvertTo-SecureString $script:token -AsPlainText -Force
        $script:verifyFull = $script:tls.VerifyFullConnectionStringFor($script:db.Name, $script:role)
        $script:signedIn = @{ Provider = 'PostgreSql'; ConnectionString = $script:verifyFull; AccessToken = $script:secureToken }
        $script:target = @{ Table = 'usuarios'; Column = 'otp' }
        $script:nonNull = @($script:plain | Where-Object { $null -ne $_ }).Count
    }
}

AfterAll {
    Stop-TestPostgres -Server $script:tls
    Restore-KeyEnvironment $script:savedEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $script:savedConnection
}

Describe 'A 900-character access token over TLS VerifyFull' {
    BeforeEach {
        if (-not $tls.Available) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($tls.Reason)" }
    }

    It 'a certificate from another CA is DatabaseTlsFailed naming TLS, and nothing is written (no job table, no changed row)' {
        $before = Invoke-TestSql -Database $db -Sql 'SELECT id, otp FROM usuarios ORDER BY id'
        $wrongCa = $tls.VerifyFullConnectionStringFor($db.Name, $role, $tls.OtherCaCertificate)
        foreach ($run in @(
                { Start-Reencryption @target -Provider PostgreSql -ConnectionString $wrongCa -AccessToken $secureToken -Path $key -LogFile (Join-Path $logFolder 'wrong-ca.log') -Verbose -ErrorAction Stop },
                { Get-ReencryptJob -Provider PostgreSql -ConnectionString $wrongCa -AccessToken $secureToken -ErrorAction Stop })) {
            $c = Invoke-Captured $run
            Assert-SecretsPSError $c.Thrown 'DatabaseTlsFailed' 'SecurityError'
            $c.Thrown.Exception.Message | Should -Match 'TLS'
            $c.Thrown.Exception.Message | Should -Not -Match 'Cannot reach'
        }
        Invoke-TestSql -Database $db -Sql 'SELECT id, otp FROM usuarios ORDER BY id' | Should -Be $before
        Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'reencrypt%'" | Should -Be '0'
    }

    It 'a wrong token is DatabaseAuthenticationFailed saying what to check' {
        $wrong = ConvertTo-SecureString (New-TestToken) -AsPlainText -Force
        $c = Invoke-Captured { Get-EncryptedColumnStatus @target -Provider PostgreSql -ConnectionString $verifyFull -AccessToken $wrong -Path $key -LogFile (Join-Path $logFolder 'wrong-token.log') -Verbose -ErrorAction Stop }
        Assert-SecretsPSError $c.Thrown 'DatabaseAuthenticationFailed' 'SecurityError'
        $c.Thrown.Exception.Message | Should -Match '28P01'
        $c.Thrown.Exception.Message | Should -Match '-AccessToken'
    }

    It 'a wrong -Credential password is DatabaseAuthenticationFailed too, and the password shows nowhere' {
        $credential = [pscredential]::new($role, (ConvertTo-SecureString 'Wr0ng-Pw-5521' -AsPlainText -Force))
        $cs = $verifyFull -replace "Username=$role;", ''
        $c = Invoke-Captured { Get-ReencryptJob -Provider PostgreSql -ConnectionString $cs -Credential $credential -ErrorAction Stop }
        Assert-SecretsPSError $c.Thrown 'DatabaseAuthenticationFailed' 'SecurityError'
        $c.Text | Should -Not -Match 'Wr0ng-Pw-5521'
    }

    It 'a database the server does not have is DatabaseNotFound, not "cannot reach"' {
        $cs = $tls.VerifyFullConnectionStringFor('no_such_database', $role)
        $c = Invoke-Captured { Get-ReencryptJob -Provider PostgreSql -ConnectionString $cs -AccessToken $secureToken -ErrorAction Stop }
        Assert-SecretsPSError $c.Thrown 'DatabaseNotFound' 'ObjectNotFound'
        $c.Thrown.Exception.Message | Should -Match '3D000'
        $c.Thrown.Exception.Message | Should -Not -Match 'Cannot reach'
    }

    It '-WhatIf, a paused run, status, jobs and -Resume all sign in with the token; the reader finds every row at v2' {
        $log = Join-Path $logFolder 'lifecycle.log'
        $c = Invoke-Captured {
            Start-Reencryption @target @signedIn -Path $key -WhatIf -LogFile $log -Verbose
            Start-Reencryption @target @signedIn -Path $key -MaxRows 10 -LogFile $log -Verbose -WarningAction Continue
            Get-EncryptedColumnStatus @target @signedIn -Path $key -LogFile $log -Verbose
            Get-ReencryptJob @signedIn -LogFile $log -Verbose
            Start-Reencryption @target @signedIn -Path $key -Resume -LogFile $log -Verbose
        }
        $c.Thrown | Should -BeNullOrEmpty
        @($c.Records | Where-Object { $_ -is [Management.Automation.ErrorRecord] }).Count | Should -Be 0
        $preview, $paused, $status, $listed, $finished = $c.Output
        $preview.WouldReencrypt | Should -Be $nonNull
        $paused.Status.ToString() | Should -Be 'Paused'
        $status.RowsByVersion['v2'] | Should -Be 10
        $listed.Id | Should -Be $paused.Id
        $finished.Id | Should -Be $paused.Id
        $finished.Status.ToString() | Should -Be 'Finished'
        $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
        $check.ByVersion['v2'] | Should -Be $nonNull
        # The server saw the role, over TLS.
        Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM reencrypt_jobs WHERE owner IS NOT NULL" | Should -Be '1'
    }

    It 'the same connection string without -Provider is PostgreSQL (Host=), and -Verbose says so once' {
        $c = Invoke-Captured { Get-ReencryptJob -ConnectionString $verifyFull -AccessToken $secureToken -Verbose -ErrorAction Stop }
        $c.Thrown | Should -BeNullOrEmpty
        @($c.Output).Count | Should -Be 1
        @($c.Records | Where-Object { $_ -is [Management.Automation.VerboseRecord] -and $_.Message -eq 'No -Provider: the connection string is for PostgreSql.' }).Count | Should -Be 1
    }

    It 'the token appears in no stream, no error (with its exception chain), no log file and no job table' {
        $captured.Count | Should -BeGreaterOrEqual 5
        $logs = @(Get-ChildItem -LiteralPath $logFolder -File | ForEach-Object { Get-Content -LiteralPath $_.FullName -Raw })
        $logs.Count | Should -BeGreaterOrEqual 2
        $tables = @(Invoke-TestSql -Database $db -Sql 'SELECT * FROM reencrypt_jobs') + @(Invoke-TestSql -Database $db -Sql 'SELECT * FROM reencrypt_job_errors')
        $errors = @($global:Error | ForEach-Object { ConvertTo-TestRecordText $_ })
        foreach ($text in @($captured) + $logs + $tables + $errors) {
            # The whole token, and any 32-character slice of it (a message cut short still leaks).
            $text.Contains($token) | Should -BeFalse
            foreach ($start in 0, 300, 600, 868) { $text.Contains($token.Substring($start, 32)) | Should -BeFalse }
        }
    }
}

Describe 'Which database a connection string is for, without -Provider' {
    It 'a string that does not tell is ProviderRequired naming -Provider, not "the SQLite connection string is not valid"' {
        $e = Get-ErrorRecord { Get-ReencryptJob -ConnectionString 'Server=db.example.com;Database=app' -ErrorAction Stop }
        Assert-SecretsPSError $e 'ProviderRequired' 'InvalidArgument'
        $e.Exception.Message | Should -Match '-Provider'
        $e.Exception.Message | Should -Not -Match 'SQLite connection string'
    }

    It 'an explicit -Provider always wins: a Host= string given as Sqlite gets SQLite''s own error' {
        $e = Get-ErrorRecord { Get-ReencryptJob -Provider Sqlite -ConnectionString 'Host=127.0.0.1;Port=5432;Database=app' -ErrorAction Stop }
        Assert-SecretsPSError $e 'ConnectionStringInvalid'
    }

    It 'a file path without -Provider is still SQLite' {
        $e = Get-ErrorRecord { Get-ReencryptJob -ConnectionString (Join-Path $logFolder 'nope.db') -ErrorAction Stop }
        Assert-SecretsPSError $e 'DatabaseNotFound'
    }
}
