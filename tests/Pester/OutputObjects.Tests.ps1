#Requires -Version 7.4
<#
    Issue #19, objects that serialize and select: every type a cmdlet writes (key versions, config checks, jobs, previews,
    column status, cleanup operations) is a plain class whose members are what it is, and survives the habits people
    script with: ConvertTo-Json | ConvertFrom-Json and Export-Csv | Import-Csv keep the values a user reads, states and
    sources as names, times in UTC with their zone, and no type name in any cell.
#>

BeforeDiscovery {
    $typeCases = @('KeyVersionInfo', 'ConfigCheck', 'ReencryptJob', 'ReencryptionPreview', 'EncryptedColumnStatus', 'KeyCleanupOperation') |
        ForEach-Object { @{ Name = $_ } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:DbFolder = New-TestDatabaseFolder

    $key = New-TestRotatedKeyFile -Folder (Join-Path $DbFolder 'objects')
    $db = New-TestDatabase -Provider Sqlite -Folder $DbFolder
    $run = @{ Path = $key; Provider = 'Sqlite'; ConnectionString = $db.ConnectionString }
    New-TestSecretTable -Database $db -Table t_obj -Values ((New-TestStoredValue (New-TestPlaintext 5 'obj') $key) + (New-TestStoredValue @('two') $key -Version v2))
    $preview = Start-Reencryption -Table t_obj -Column otp @run -WhatIf
    $job = Start-Reencryption -Table t_obj -Column otp @run
    $status = Get-EncryptedColumnStatus -Table t_obj -Column otp @run
    $null = Invoke-KeyRotation -Path $key -NewVersion v3 -Force -WarningAction SilentlyContinue
    $cleanup = Remove-UnusedEncryptionKey -Path $key -Keep 1 -SkipUsageCheck -Force -WarningAction SilentlyContinue

    # One sample of every type, with the properties whose text a user reads, and the time properties.
    $script:Samples = @{
        KeyVersionInfo        = @{ Object = @(Get-EncryptionKey -Path $key)[0]; Times = @('Created'); Names = @{ Source = 'File' } }
        ConfigCheck           = @{ Object = @(Test-EncryptionConfig -Path $key -Detailed)[0]; Times = @(); Names = @{ Status = 'Passed' } }
        ReencryptJob          = @{ Object = $job; Times = @('CreatedAt', 'StartedAt', 'UpdatedAt', 'FinishedAt'); Names = @{ Status = 'finished' } }
        ReencryptionPreview   = @{ Object = $preview; Times = @(); Names = @{} }
        EncryptedColumnStatus = @{ Object = $status; Times = @(); Names = @{} }
        KeyCleanupOperation   = @{ Object = $cleanup; Times = @('StartedAt'); Names = @{ Outcome = 'Succeeded' } }
    }

    function Get-ReadableText {
        # What a person reads of a value: a collection's text is its items' (the object's ToString for ours).
        param($Value)
        if ($null -eq $Value) { return '' }
        if ($Value -is [DateTimeOffset]) { return $Value.ToString('o') }
        [string]$Value.ToString()
    }
}

AfterAll {
    Remove-TestDatabaseFolder $script:DbFolder
    Restore-KeyEnvironment $script:SavedEnvironment
}

Describe 'Output objects' {
    It '<Name> is a plain class: no record members in Get-Member, no record text in Format-List *' -ForEach $typeCases {
        $Object = $Samples[$Name].Object; $Times = $Samples[$Name].Times; $Names = $Samples[$Name].Names
        $Object.PSObject.TypeNames[0] | Should -BeLike "SecretsPS.Core.*.$Name"
        $members = @($Object | Get-Member -Force).Name
        $members | Should -Not -Contain '<Clone>$'
        $members | Should -Not -Contain 'Deconstruct'
        $members | Should -Not -Contain 'EqualityContract'
        $text = $Object | Format-List * | Out-String -Width 200
        $text | Should -Not -Match '\w+ \{ \w+ = '
        $text | Should -Not -Match 'System\.Collections'
        $text | Should -Not -Match '\[v\d+, \d+\]'
    }

    It '<Name> writes its state or source as a name in ConvertTo-Json, without -EnumsAsStrings' -ForEach $typeCases {
        $Object = $Samples[$Name].Object; $Times = $Samples[$Name].Times; $Names = $Samples[$Name].Names
        $json = $Object | ConvertTo-Json -Depth 6
        $back = $json | ConvertFrom-Json
        foreach ($p in $Names.Keys) {
            $back.$p | Should -BeExactly $Names[$p]
            $json | Should -Match ('"' + $p + '": "' + $Names[$p] + '"')
        }
        $json | Should -Not -Match 'System\.'
    }

    It '<Name> keeps every scalar value a user reads through ConvertTo-Json | ConvertFrom-Json' -ForEach $typeCases {
        $Object = $Samples[$Name].Object; $Times = $Samples[$Name].Times; $Names = $Samples[$Name].Names
        $back = $Object | ConvertTo-Json -Depth 6 | ConvertFrom-Json
        foreach ($p in $Object.PSObject.Properties) {
            $value = $p.Value
            if ($null -eq $value -or $p.Name -in $Times) { continue }
            if ($value -is [string] -or $value -is [ValueType]) {
                # ConvertTo-Json writes a TimeSpan as an object of its parts.
                if ($value -is [TimeSpan]) { [TimeSpan]::new($back.($p.Name).Ticks) | Should -Be $value; continue }
                "$($back.($p.Name))" | Should -Be "$value" -Because "$Name.$($p.Name)"
            }
        }
    }

    It '<Name> writes its times in UTC with their zone, and they read back as the same instant' -ForEach $typeCases {
        $Object = $Samples[$Name].Object; $Times = $Samples[$Name].Times; $Names = $Samples[$Name].Names
        $json = $Object | ConvertTo-Json -Depth 6
        $back = $json | ConvertFrom-Json
        foreach ($t in $Times) {
            $value = $Object.$t
            if ($null -eq $value) { continue }
            $value | Should -BeOfType [DateTimeOffset]
            $value.Offset | Should -Be ([TimeSpan]::Zero) -Because "$Name.$t is UTC"
            $json | Should -Match ('"' + $t + '": "\d{4}-\d\d-\d\dT[\d:.]+(Z|\+00:00)"')
            ([DateTimeOffset]$back.$t).UtcDateTime | Should -Be $value.UtcDateTime
        }
    }

    It '<Name> survives Export-Csv | Import-Csv: names, readable lists and counts, times with their zone, no type name in a cell' -ForEach $typeCases {
        $Object = $Samples[$Name].Object; $Times = $Samples[$Name].Times; $Names = $Samples[$Name].Names
        $csv = Join-Path (New-TestFolder) "$Name.csv"
        $Object | Export-Csv -LiteralPath $csv
        $row = Import-Csv -LiteralPath $csv
        foreach ($p in $Object.PSObject.Properties) {
            $cell = $row.($p.Name)
            $cell | Should -Not -Match '^System\.|SecretsPS\.Core\.' -Because "$Name.$($p.Name) must not be a type name"
            if ($p.Name -in $Times) {
                if ($null -ne $p.Value) {
                    $cell | Should -Match '\+00:00$' -Because "$Name.$($p.Name) keeps its zone"
                    ([DateTimeOffset]::Parse($cell, [Globalization.CultureInfo]::CurrentCulture)).UtcDateTime.ToString('s') | Should -Be $p.Value.UtcDateTime.ToString('s')
                }
                continue
            }
            $cell | Should -Be (Get-ReadableText $p.Value) -Because "$Name.$($p.Name)"
        }
        foreach ($n in $Names.Keys) { $row.$n | Should -BeExactly $Names[$n] }
    }
}

Describe 'RowsByVersion reads one way everywhere' {
    It 'reads v1=5, v2=1 in the status, the preview, Format-List, a CSV cell and a string, and is still a dictionary' {
        $preview.RowsByVersion.ToString() | Should -Be 'v1=5, v2=1'
        "$($preview.RowsByVersion)" | Should -Not -Match '\['
        ($preview | Format-List * | Out-String -Width 200) | Should -Match 'RowsByVersion\s+: \{v1=5, v2=1\}'
        $status.RowsByVersion.ToString() | Should -Be 'v2=6'
        $status.RowsByVersion['v2'] | Should -Be 6
        $status.RowsByVersion.ContainsKey('v2') | Should -BeTrue
        $preview.RowsByVersion.Keys | Should -Be @('v1', 'v2')
        ($preview | ConvertTo-Csv | ConvertFrom-Csv).RowsByVersion | Should -Be 'v1=5, v2=1'
    }

    It 'goes out as a JSON object of counts by version, which reads back by name' {
        $back = $preview | ConvertTo-Json | ConvertFrom-Json
        $back.RowsByVersion.v1 | Should -Be 5
        $back.RowsByVersion.v2 | Should -Be 1
    }

    It 'is the job''s counts at finish too' {
        $job.CountsAtFinish.ToString() | Should -Be 'v2=6'
    }
}

Describe 'Headers and filters' {
    It 'filters jobs by their state name, as typed or as stored' {
        @($job | Where-Object Status -EQ 'Finished').Count | Should -Be 1
        @($job | Where-Object Status -EQ 'finished').Count | Should -Be 1
        @(Get-ReencryptJob -Provider Sqlite -ConnectionString $db.ConnectionString -Status Finished).Id | Should -Be $job.Id
    }

    It 'shows a job''s skipped rows as skipped, not as processed' {
        ($job.Processed, $job.Skipped, $job.TotalRows) | Should -Be @(5, 1, 6)
    }

    It 'carries settable Provider and ConnectionString properties on the job' {
        $copy = $job
        $copy.PSObject.Properties['Provider'].IsSettable | Should -BeTrue
        $copy.PSObject.Properties['ConnectionString'].IsSettable | Should -BeTrue
    }

    It 'names a cleanup after the UTC time it started' {
        $cleanup.StartedAt.Offset | Should -Be ([TimeSpan]::Zero)
        $cleanup.OperationId | Should -BeLike ('cleanup_' + $cleanup.StartedAt.UtcDateTime.ToString('yyyyMMdd_HH') + '*')
        $cleanup.Kept.ToString() | Should -Match '^v3 \(the active version\)'
    }
}
