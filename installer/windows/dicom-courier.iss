; Inno Setup recipe for Windows (UNTESTED here: no Windows machine in this project's CI).
; Build the one-folder bundle first on Windows with the same spec:
;   py -3.11 -m venv build\venv
;   build\venv\Scripts\pip install -c constraints.txt . pyinstaller
;   build\venv\Scripts\pyinstaller --noconfirm --distpath build\pyinstaller installer\dicom-courier.spec
; then compile this script with Inno Setup 6:  iscc installer\windows\dicom-courier.iss
#define AppVersion "0.1.0"

[Setup]
AppId={{6F2A3C51-8E0B-4C5D-9B7A-2E1D4C6B8A90}
AppName=DICOM Courier
AppVersion={#AppVersion}
AppPublisher=DICOM Courier developers
DefaultDirName={autopf}\DICOM Courier
DefaultGroupName=DICOM Courier
LicenseFile=..\..\LICENSE
OutputDir=..\..\dist
OutputBaseFilename=dicom-courier-{#AppVersion}-windows-x64-setup
ArchitecturesInstallIn64BitMode=x64compatible
ArchitecturesAllowed=x64compatible
Compression=lzma2
SolidCompression=yes
PrivilegesRequiredOverridesAllowed=dialog

[Files]
Source: "..\..\build\pyinstaller\dicom-courier\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\DICOM Courier"; Filename: "{app}\dicom-courier.exe"; Parameters: "gui"
Name: "{group}\Uninstall DICOM Courier"; Filename: "{uninstallexe}"

[Run]
Filename: "{app}\dicom-courier.exe"; Parameters: "gui"; Description: "Start DICOM Courier"; Flags: nowait postinstall skipifsilent
