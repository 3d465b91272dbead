#Requires -Version 7.4
<#
    Pipelines that bind (issue 19): a job object names its database (provider, connection string without any password,
    job table), so Get-ReencryptJob | Remove-ReencryptJob and | Get-ReencryptJobError work without repeating it; numbers
    piped to Get-ReencryptJob are ids; Get-ReencryptJobError lists a job's failed rows (key, code, reason, never a value).
    On SQLite and on a throwaway PostgreSQL server whose connection string carries a password.
#>

BeforeDiscovery {
    $providers = @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres
    # The test server trusts its clients: a password in the string is accepted and ignored, and must never come back out.
    $script:password = 'Pw-' + [guid]::NewGuid().ToString('N')

    function Test-NoDatabase([string] $Provider) { $Provider -eq 'PostgreSql' -and -not $script:pg.Available }
}

AfterAll {
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'Job objects bind to the job cmdlets on <Provider>' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $db = New-TestDatabase -Provider $Provider -Folder $folder -Server $pg
        $connectionString = if ($Provider -eq 'PostgreSql') { $db.ConnectionString + ";Password=$password" } else { $db.ConnectionString }
        $conn = @{ Provider = $Provider; ConnectionString = $connectionString }
        $run = $conn + @{ Path = $key }
        $good = New-TestStoredValue (New-TestPlaintext 4 'g') $key
        New-TestSecretTable -Database $db -Table t_good -Values $good
        # Rows 2 and 4 of t_bad are plaintext: NotCiphertext, and their values must never be shown.
        New-TestSecretTable -Database $db -Table t_bad -Values @($good[0], 'plain-secret-two', $good[2], 'plain-secret-four')
        $j1 = Start-Reencryption -Table t_good -Column otp @run
        $j2 = Start-Reencryption -Table t_bad -Column otp @run -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        $j3 = Start-Reencryption -Table t_good -Column otp @run
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It 'a job names its provider, its connection string without the password, and its job table' {
        foreach ($job in @(Get-ReencryptJob @conn) + @($j1)) {
            $job.Provider | Should -Be $Provider
            $job.JobTable | Should -Be 'reencrypt_jobs'
            $job.ConnectionString | Should -Not -BeNullOrEmpty
            $job.ConnectionString | Should -Not -Match ([regex]::Escape($password))
            $job.ConnectionString | Should -Not -Match '(?i)password|pwd'
            ($job | ConvertTo-Json -Depth 3) | Should -Not -Match ([regex]::Escape($password))
        }
        if ($Provider -eq 'PostgreSql') { (Get-ReencryptJob @conn -Id $j1.Id).ConnectionString | Should -Match "Database=$($db.Name)" }
        else { (Get-ReencryptJob @conn -Id $j1.Id).ConnectionString | Should -Be $db.Path }
    }

    It 'numbers piped to Get-ReencryptJob bind to -Id; one that names no job is JobNotFound' {
        $jobs = @($j1.Id, $j2.Id, 999 | Get-ReencryptJob @conn -ErrorVariable notFound -ErrorAction SilentlyContinue)
        $jobs.Id | Should -Be @($j1.Id, $j2.Id)
        $notFound | Should -HaveCount 1
        Assert-SecretsPSError $notFound[0] 'JobNotFound' 'ObjectNotFound'
    }

    It 'Get-ReencryptJob | Get-ReencryptJobError lists the failed rows: key, code and reason, never the value' {
        $errors = @(Get-ReencryptJob @conn -Id $j2.Id | Get-ReencryptJobError)
        $errors | Should -HaveCount 2
        $errors.RowKey | Should -Be @('2', '4')
        $errors.ErrorId | Should -Be @('NotCiphertext', 'NotCiphertext')
        foreach ($e in $errors) {
            $e.GetType().FullName | Should -Be 'SecretsPS.Core.Reencryption.ReencryptJobError'
            $e.JobId | Should -Be $j2.Id
            $e.Target | Should -Be 't_bad.otp'
            $e.Reason | Should -BeLike 'the value is not a stored ciphertext*'
            $e.CreatedAt.Offset | Should -Be ([TimeSpan]::Zero)
            ($e | ConvertTo-Json) | Should -Not -Match 'plain-secret'
        }
        @(Get-ReencryptJobError @conn -JobId $j1.Id) | Should -HaveCount 0
    }

    It 'a job error survives JSON and CSV with its names, and its time keeps its zone' {
        $errors = @(Get-ReencryptJobError @conn -JobId $j2.Id)
        $json = $errors | ConvertTo-Json | ConvertFrom-Json
        $json.RowKey | Should -Be @('2', '4')
        $json.ErrorId | Should -Be @('NotCiphertext', 'NotCiphertext')
        [datetimeoffset]::Parse($json[0].CreatedAt.ToString('o')).Offset | Should -Be ([TimeSpan]::Zero)
        $csvPath = Join-Path $folder "errors-$Provider.csv"
        $errors | Export-Csv -LiteralPath $csvPath -NoTypeInformation
        $csv = @(Import-Csv -LiteralPath $csvPath)
        $csv.RowKey | Should -Be @('2', '4')
        $csv.Reason | Should -Be @($errors.Reason)
        $csv[0].CreatedAt | Should -Match '(\+00:00|Z)$'
        # The CSV's text has whole seconds: the same instant, to the second.
        [datetimeoffset]::Parse($csv[0].CreatedAt, [cultureinfo]::CurrentCulture).ToUnixTimeSeconds() | Should -Be $errors[0].CreatedAt.ToUnixTimeSeconds()
        Get-Content -LiteralPath $csvPath -Raw | Should -Not -Match 'plain-secret'
    }

    It 'Get-ReencryptJobError -First bounds the rows of each job and warns how many there are' {
        $errors = @(Get-ReencryptJobError @conn -JobId $j2.Id -First 1 -WarningVariable w -WarningAction SilentlyContinue)
        $errors | Should -HaveCount 1
        $w | Should -HaveCount 1
        $w[0].Message | Should -Match "Job $($j2.Id) has 2 row error"
    }

    It 'Get-ReencryptJobError for a job that does not exist is JobNotFound, and the other ids are still read' {
        $errors = @(Get-ReencryptJobError @conn -JobId 999, $j2.Id -ErrorVariable e -ErrorAction SilentlyContinue)
        $errors | Should -HaveCount 2
        $e | Should -HaveCount 1
        Assert-SecretsPSError $e[0] 'JobNotFound' 'ObjectNotFound'
    }

    It 'the default view of a job error fits 80 columns' {
        $text = Get-ReencryptJobError @conn -JobId $j2.Id | Out-String -Width 80
        $text | Should -Match 'JobId\s+RowKey\s+ErrorId\s+CreatedAt\s+Reason'
        $text | Should -Match '\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ'
        foreach ($line in $text -split "`r?`n") { $line.Length | Should -BeLessOrEqual 80 }
    }

    It 'Get-ReencryptJob -Id N | Remove-ReencryptJob removes that job, with nothing but the piped object to name the database' {
        $removed = @(Get-ReencryptJob @conn -Id $j3.Id | Remove-ReencryptJob -Force -PassThru)
        $removed.Id | Should -Be $j3.Id
        $removed[0].ConnectionString | Should -Not -Match ([regex]::Escape($password))
        @(Get-ReencryptJob @conn).Id | Should -Be @($j2.Id, $j1.Id)
    }

    It 'a job piped to Remove-ReencryptJob goes with its error rows' {
        Get-ReencryptJob @conn -Id $j2.Id | Remove-ReencryptJob -Force
        @(Get-ReencryptJob @conn).Id | Should -Be @($j1.Id)
        @(Get-TestJobErrorRow -Database $db) | Should -HaveCount 0
    }
}

Describe 'Key pipelines that must not multiply or misdirect' {
    BeforeEach {
        $keyFolder = New-TestFolder -Parent $folder
        $key = New-TestRotatedKeyFile -Folder $keyFolder
    }

    It 'Get-EncryptionKey | Invoke-KeyRotation rotates once, whatever the number of versions piped' {
        (Get-EncryptionKey -Path $key).Count | Should -Be 2
        $null = Get-EncryptionKey -Path $key | Invoke-KeyRotation -Force -WarningAction SilentlyContinue
        (Get-EncryptionKey -Path $key).Version | Should -Be @('v1', 'v2', 'v3')
        (Get-BackupFiles $key).Count | Should -Be 2
    }

    It 'Get-EncryptionKey | Invoke-KeyRotation -NewVersion x adds x once and fails nothing' {
        $null = Get-EncryptionKey -Path $key | Invoke-KeyRotation -NewVersion next -Force -WarningAction SilentlyContinue -ErrorVariable e
        $e | Should -HaveCount 0
        (Get-EncryptionKey -Path $key).Version | Should -Be @('v1', 'v2', 'next')
    }

    It 'Get-EncryptionKey -Version v1 | Protect-EncryptedValue -Value x encrypts with v1, not the active v2' {
        $stored = Get-EncryptionKey -Path $key -Version v1 | Protect-EncryptedValue -Value 'texto-ção'
        $stored | Should -HaveCount 1
        $stored | Should -BeLike 'v1:*'
        Unprotect-EncryptedValue -Path $key -Value $stored | Should -Be 'texto-ção'
    }

    It 'a piped version of another environment''s key file encrypts with that file''s key' {
        $production = Join-Path $keyFolder '.env.crypto.production'
        $null = New-EncryptionConfig -Path $production -Version p1 -WarningAction SilentlyContinue
        Push-Location $keyFolder
        try { $stored = Get-EncryptionKey -Environment production | Protect-EncryptedValue -Value 'prod-value' }
        finally { Pop-Location }
        $stored | Should -BeLike 'p1:*'
        Unprotect-EncryptedValue -Path $production -Value $stored | Should -Be 'prod-value'
    }

    It 'a piped object whose Version is not in the key file is KeyVersionNotFound, and nothing is written' {
        $stored = @([pscustomobject]@{ Version = 'v9' } | Protect-EncryptedValue -Path $key -Value 'x' -ErrorVariable e -ErrorAction SilentlyContinue)
        $stored | Should -HaveCount 0
        $e | Should -HaveCount 1
        $e[0].FullyQualifiedErrorId | Should -BeLike 'KeyVersionNotFound,*'
    }
}
