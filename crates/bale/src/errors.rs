//! Errors for people: what failed, where, and what to do about it.

use bale_fileset::{EntryProblem, FilesetError};
use bale_store::StoreError;
use serde_json::json;

pub fn render(error: &anyhow::Error, json: bool) {
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    let help = help_for(error);
    if json {
        let doc = json!({ "error": { "message": error.to_string(), "causes": causes, "help": help } });
        eprintln!("{doc}");
        return;
    }
    eprintln!("error: {error}");
    for cause in &causes {
        eprintln!("  caused by: {cause}");
    }
    if let Some(help) = help {
        eprintln!("  help: {help}");
    }
}

fn help_for(error: &anyhow::Error) -> Option<String> {
    for cause in error.chain() {
        if let Some(help) = debian_help(cause) {
            return Some(help);
        }
        if let Some(e) = cause.downcast_ref::<StoreError>()
            && let Some(help) = store_help(e)
        {
            return Some(help);
        }
        if let Some(e) = cause.downcast_ref::<FilesetError>() {
            return fileset_help(e);
        }
        if let Some(bale_registry::RegistryError::Download { source, .. }) = cause.downcast_ref() {
            return Some(source.help().into());
        }
    }
    None
}

fn debian_help(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    use bale_debian::archive::ArchiveError;
    use bale_debian::deb::DebError;
    use bale_debian::import::ImportError;
    if let Some(e) = cause.downcast_ref::<ArchiveError>() {
        return match e {
            ArchiveError::Trust(e) => Some(trust_help(e).into()),
            ArchiveError::Fetch(e) => fetch_help(e),
            ArchiveError::Store(e) => store_help(e),
            ArchiveError::WrongSuite { .. } => {
                Some("nothing was imported: check the suite name (--suite, or the apt source), or use another mirror".into())
            }
            ArchiveError::Update { error, .. } => debian_help(error.as_ref()),
            ArchiveError::Decompress { .. } => Some(
                "nothing from that index was kept: it does not match the signed Release; retry later or use another mirror"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(bale_debian::import::ClosureError::<bale_resolve::ResolveError>::Archive { error, .. }) =
        cause.downcast_ref()
    {
        return debian_help(error.as_ref());
    }
    if let Some(bale_debian::import::ClosureError::<bale_resolve::ResolveError>::Import(e)) = cause.downcast_ref() {
        return debian_help(e);
    }
    if let Some(bale_debian::import::ClosureError::<bale_resolve::ResolveError>::Resolve(e)) = cause.downcast_ref() {
        return debian_help(e);
    }
    if let Some(e) = cause.downcast_ref::<ImportError>() {
        return match e {
            ImportError::Fetch { error, .. } => fetch_help(error),
            ImportError::Deb(e) => Some(match **e {
                DebError::Data { .. } | DebError::MergedUsrClash { .. } => {
                    "nothing from this .deb was stored: it cannot become a bale package; report it to the archive"
                        .into()
                }
                _ => "nothing from this .deb was stored: it is damaged or not a .deb".into(),
            }),
            ImportError::Store { error, .. } => store_help(error),
            ImportError::NoIndex { .. } => {
                Some("nothing was imported: the archive is inconsistent; retry later or use another mirror".into())
            }
        };
    }
    if let Some(e) = cause.downcast_ref::<bale_resolve::ResolveError>() {
        return Some(match e {
            bale_resolve::ResolveError::Index(_) => {
                "the archive's index is damaged at that stanza: retry later or use another mirror".into()
            }
            _ => "`bale debian show NAME` shows the versions and dependencies the archive has".into(),
        });
    }
    None
}

fn trust_help(error: &bale_debian::trust::TrustError) -> &'static str {
    use bale_debian::trust::TrustError;
    match error {
        TrustError::BadSignature { .. } => {
            "nothing was imported: the mirror served data altered after signing; try again later or another mirror"
        }
        TrustError::UnknownSigner { .. } => {
            "nothing was imported: pass --keyring with the archive's signing key (for Debian, debian-archive-keyring)"
        }
        TrustError::NotSigned { .. } => "nothing was imported: use a mirror that publishes a signed InRelease",
        _ => "check the keyring given with --keyring (or the Signed-By of the apt source)",
    }
}

fn fetch_help(error: &bale_debian::fetch::FetchError) -> Option<String> {
    use bale_debian::fetch::FetchError;
    match error {
        FetchError::Mismatch { .. } | FetchError::Overlong { .. } => Some(
            "nothing from that file was stored: the mirror is mid-update or serving altered files; retry later or use another mirror"
                .into(),
        ),
        FetchError::Network { .. } => Some("check the mirror URL (--mirror, or the host's apt sources) and the network".into()),
        FetchError::Store(e) => store_help(e),
        FetchError::Download { source, .. } => Some(source.help().into()),
        _ => None,
    }
}

fn store_help(error: &StoreError) -> Option<String> {
    Some(match error {
        StoreError::Fileset(e) => return fileset_help(e),
        StoreError::NotFound { .. } => "`bale list` shows the packages in the store".into(),
        StoreError::CorruptBlob { .. } | StoreError::MissingBlob { .. } => {
            "run `bale store verify` to see every damaged blob; pack or import the affected packages again".into()
        }
        StoreError::GcRefused { .. } => {
            "`bale store verify` names the damaged package; `bale remove` it (then pack or import it again) and rerun gc"
                .into()
        }
        StoreError::NoHome => "for example: export BALE_HOME=$PWD/.bale".into(),
        StoreError::InvalidName { .. } => "names look like `hello` or `example.com/tools/app`".into(),
        StoreError::InvalidVersion { .. } => "versions look like `1.2.0` or `2:1.0-3~rc1`".into(),
        StoreError::InvalidLicense { .. } => "use an SPDX expression, or NOASSERTION when unknown".into(),
        _ => return None,
    })
}

fn fileset_help(error: &FilesetError) -> Option<String> {
    Some(match error {
        FilesetError::Entry { problem, .. } => match problem {
            EntryProblem::EntryTooLarge { .. }
            | EntryProblem::TotalTooLarge { .. }
            | EntryProblem::TooManyEntries { .. } => {
                "when packing a trusted input this large, raise `bale pack --max-size` or `--max-entries`; \
                 when unpacking, the package is damaged"
                    .into()
            }
            EntryProblem::Changed { .. } => {
                "something modified the file during packing; pack again when it is stable".into()
            }
            EntryProblem::Replaced { .. } => "another process changed the tree while bale worked on it; nothing \
                 was read or written outside it. Make sure no one else can write there, then run bale again"
                .into(),
            EntryProblem::UnsupportedType { .. } => {
                "remove that entry from the source: packages hold only files, directories, symlinks and hard links"
                    .into()
            }
            _ => "nothing was stored; fix or remove that entry in the source and try again".into(),
        },
        FilesetError::DestinationNotEmpty { .. } => "unpack into a new or empty directory".into(),
        _ => return None,
    })
}
