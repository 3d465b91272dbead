#Requires -Version 7.4
<#
    The module in ForEach-Object -Parallel runspaces (issue #15): three runspaces of one process import it at once and each
    rotates its own key file, re-encrypts its own database (a PostgreSQL database and two SQLite files), and reads its
    status and keys back. Nothing may cross between them: each job counts its own database's rows, each key file gets its
    own new version, and every row decrypts, read back by the independent reader, with its own key file only.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:TestFile = Enter-DatabaseTestFile
    $script:ModulePath = (Get-Module SecretsPS).Path
    $folder = $script:TestFile.Folder
    $databases = @(
        New-TestDatabase -Provider PostgreSql -Server $script:TestFile.Postgres
        New-TestDatabase -Provider Sqlite -Folder $folder
        New-TestDatabase -Provider Sqlite -Folder $folder
    )
    # Different row counts and a key file each, so that a counter or a key that crossed runspaces would show.
    $script:Work = for ($i = 0; $i -lt $databases.Count; $i++) {
        $db = $databases[$i]
        $key = New-TestRotatedKeyFile -Folder (Join-Path $folder "keys-$i")   # v1, then v2 active
        $plain = New-TestPlaintext -Count (150 + 37 * $i) -Tag "par$i"
        New-TestSecretTable -Database $db -Table 'accounts' -Values (New-TestStoredValue -Plaintext $plain -KeyFile $key -Version v1)
        [pscustomobject]@{ Index = $i; Database = $db; Provider = $db.Provider; ConnectionString = $db.ConnectionString; Key = $key; Plain = $plain }
    }
}

AfterAll {
    Exit-DatabaseTestFile $script:TestFile
}

Describe 'ForEach-Object -Parallel -ThrottleLimit 3 over three databases' {
    It 'each runspace rotates its own key file and re-encrypts its own database; no counter, key or row crosses' {
        $modulePath = $script:ModulePath
        $results = @($script:Work | ForEach-Object -ThrottleLimit 3 -Parallel {
                $w = $_
                Import-Module $using:modulePath -ErrorAction Stop
                $rotation = Invoke-KeyRotation -Path $w.Key -PassThru -WarningAction SilentlyContinue -ErrorAction Stop
                $job = Start-Reencryption -Path $w.Key -Provider $w.Provider -ConnectionString $w.ConnectionString -Table accounts -Column otp -BatchSize 20 -CommitEvery 40 -ErrorAction Stop
                $status = Get-EncryptedColumnStatus -Path $w.Key -Provider $w.Provider -ConnectionString $w.ConnectionString -Table accounts -Column otp -ErrorAction Stop
                $keys = @(Get-EncryptionKey -Path $w.Key -ErrorAction Stop)
                [pscustomobject]@{ Index = $w.Index; Rotation = $rotation; Job = $job; Status = $status; Keys = $keys }
            })
        $results.Count | Should -Be 3
        foreach ($r in $results) {
            $w = $script:Work[$r.Index]
            $r.Job.Status | Should -Be 'Finished'
            $r.Job.TargetVersion | Should -Be 'v3'
            $r.Job.Processed | Should -Be $w.Plain.Count -Because "job $($r.Index) counts its own database's rows"
            $r.Job.Provider | Should -Be $w.Provider
            $r.Status.IsComplete | Should -BeTrue
            $r.Status.AtActiveVersion | Should -Be $w.Plain.Count
            ($r.Keys | Where-Object IsActive).Version | Should -Be 'v3'
            @($r.Keys.Version) | Should -Be @('v1', 'v2', 'v3')
            @($r.Keys.Path | Sort-Object -Unique) | Should -Be @($w.Key)
            $check = Get-TestColumnCheck -Database $w.Database -Table 'accounts' -KeyFile $w.Key -Version v3 -Expected $w.Plain
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }
        # Three key files, three different new keys: no runspace wrote into another's file.
        @($script:Work | ForEach-Object { (Select-String -LiteralPath $_.Key -Pattern '^ENCRYPTION_KEYS__v3=').Line } | Sort-Object -Unique).Count | Should -Be 3
    }

    It 'runspaces that rotate one key file at once each add their own version (the key file lock holds across runspaces)' {
        $shared = New-TestRotatedKeyFile -Folder (Join-Path $script:TestFile.Folder 'shared-keys')
        $modulePath = $script:ModulePath
        $versions = @(1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:modulePath -ErrorAction Stop
                (Invoke-KeyRotation -Path $using:shared -NewVersion "p$_" -Inactive -PassThru -WarningAction SilentlyContinue -ErrorAction Stop).Version
            })
        $versions.Count | Should -Be 4
        $listed = @(Get-EncryptionKey -Path $shared).Version
        foreach ($v in 'v1', 'v2', 'p1', 'p2', 'p3', 'p4') { $listed | Should -Contain $v }
        Test-EncryptionConfig -Path $shared | Should -BeTrue
    }
}
