//! The users and groups of an image: root (0) and daemon (1) always, then
//! the spec's `[users]` and `[groups]`, written into the generated
//! `/etc/passwd` and `/etc/group`, and the names that `user`, `[dirs]`
//! owners and the image config resolve against.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A uid or gid, by number or by a name the spec (or the builtins) define.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IdRef {
    Number(u32),
    Name(String),
}

/// The process user of the image config: a uid, `"uid:gid"`, or a name
/// (`"app"`, `"app:staff"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UserRef {
    Uid(u32),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecUser {
    pub uid: u32,
    /// Primary group, by gid or name [default: the group of the user's
    /// name, made with gid = uid when the spec has none].
    pub gid: Option<IdRef>,
    /// [default: `/home/NAME`]
    pub home: Option<String>,
    /// [default: `/usr/sbin/nologin`]
    pub shell: Option<String>,
    /// Make the home directory, owned by the user, mode 0750.
    #[serde(default = "yes")]
    pub create_home: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecGroup {
    pub gid: u32,
    /// Users who also belong to the group (supplementary).
    #[serde(default)]
    pub members: Vec<String>,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// Whether the generated layer makes `home`.
    pub create_home: bool,
}

/// One `/etc/group` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Every account and group of an image, in uid (gid) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    pub users: Vec<Account>,
    pub groups: Vec<Group>,
}

impl Default for Accounts {
    /// root and daemon only.
    fn default() -> Self {
        Self::new(&BTreeMap::new(), &BTreeMap::new()).unwrap_or_else(|_| Self { users: Vec::new(), groups: Vec::new() })
    }
}

/// What is wrong, and with which key of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountError {
    pub field: String,
    pub reason: String,
}

fn error(field: impl Into<String>, reason: impl Into<String>) -> AccountError {
    AccountError { field: field.into(), reason: reason.into() }
}

/// Names as `useradd` takes them by default: a lowercase letter or `_`,
/// then lowercase letters, digits, `_` and `-`, at most 32 bytes.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A path a passwd line can hold: absolute, without `:` or a newline.
pub fn valid_field_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains([':', '\n', '\0'])
}

impl Accounts {
    /// root and daemon, then the spec's users and groups, checked: names
    /// valid and unique, ids unique, every group a user names defined.
    pub fn new(users: &BTreeMap<String, SpecUser>, groups: &BTreeMap<String, SpecGroup>) -> Result<Self, AccountError> {
        let mut out = Self {
            users: vec![
                Account {
                    name: "root".into(),
                    uid: 0,
                    gid: 0,
                    home: "/root".into(),
                    shell: "/sbin/nologin".into(),
                    create_home: false,
                },
                Account {
                    name: "daemon".into(),
                    uid: 1,
                    gid: 1,
                    home: "/".into(),
                    shell: "/sbin/nologin".into(),
                    create_home: false,
                },
            ],
            groups: vec![
                Group { name: "root".into(), gid: 0, members: Vec::new() },
                Group { name: "daemon".into(), gid: 1, members: Vec::new() },
            ],
        };
        for (name, group) in groups {
            let field = format!("groups.{name}");
            if !valid_name(name) {
                return Err(error(
                    field,
                    "a group name is a lowercase letter or `_`, then lowercase letters, digits, `_` and `-` (at most 32)",
                ));
            }
            if let Some(taken) = out.groups.iter().find(|g| g.name == *name || g.gid == group.gid) {
                return Err(error(field, format!("the group {} already has gid {}", taken.name, taken.gid)));
            }
            out.groups.push(Group { name: name.clone(), gid: group.gid, members: group.members.clone() });
        }
        for (name, user) in users {
            let field = format!("users.{name}");
            if !valid_name(name) {
                return Err(error(
                    field,
                    "a user name is a lowercase letter or `_`, then lowercase letters, digits, `_` and `-` (at most 32)",
                ));
            }
            if let Some(taken) = out.users.iter().find(|u| u.name == *name || u.uid == user.uid) {
                return Err(error(field, format!("the user {} already has uid {}", taken.name, taken.uid)));
            }
            let gid = match &user.gid {
                Some(IdRef::Number(gid)) => *gid,
                Some(IdRef::Name(group)) => out
                    .groups
                    .iter()
                    .find(|g| g.name == *group)
                    .map(|g| g.gid)
                    .ok_or_else(|| error(format!("{field}.gid"), format!("no group is called {group:?}")))?,
                // Debian's user private groups: a group of the user's name.
                None => match out.groups.iter().find(|g| g.name == *name) {
                    Some(group) => group.gid,
                    None => {
                        if let Some(taken) = out.groups.iter().find(|g| g.gid == user.uid) {
                            return Err(error(
                                format!("{field}.gid"),
                                format!(
                                    "the group {name} would get gid {}, which {} has; give gid",
                                    user.uid, taken.name
                                ),
                            ));
                        }
                        out.groups.push(Group { name: name.clone(), gid: user.uid, members: Vec::new() });
                        user.uid
                    }
                },
            };
            let home = user.home.clone().unwrap_or_else(|| format!("/home/{name}"));
            let shell = user.shell.clone().unwrap_or_else(|| "/usr/sbin/nologin".into());
            for (key, path) in [("home", &home), ("shell", &shell)] {
                if !valid_field_path(path) {
                    return Err(error(format!("{field}.{key}"), "give an absolute path without `:`"));
                }
            }
            out.users.push(Account {
                name: name.clone(),
                uid: user.uid,
                gid,
                home,
                shell,
                create_home: user.create_home,
            });
        }
        for group in &out.groups {
            if let Some(missing) = group.members.iter().find(|m| !out.users.iter().any(|u| u.name == **m)) {
                return Err(error(format!("groups.{}.members", group.name), format!("no user is called {missing:?}")));
            }
        }
        out.users.sort_by_key(|u| u.uid);
        out.groups.sort_by_key(|g| g.gid);
        Ok(out)
    }

    /// Adds an account a package declares, with its primary group of the
    /// same name. One already there with the same ids is kept; a name or
    /// id another account has is refused, saying which.
    pub fn add_system_user(&mut self, user: &bale_store::SystemUser) -> Result<(), String> {
        if !valid_name(&user.name) || !valid_field_path(&user.home) || !valid_field_path(&user.shell) {
            return Err(format!("{:?} is not a user name, home and shell bale can write", user.name));
        }
        match self.users.iter().find(|u| u.name == user.name || u.uid == user.uid) {
            Some(have) if have.name == user.name && have.uid == user.uid && have.gid == user.gid => return Ok(()),
            Some(have) => {
                return Err(format!(
                    "it declares the user {} with uid {} and gid {}, and the image has {} with uid {} and gid {}",
                    user.name, user.uid, user.gid, have.name, have.uid, have.gid
                ));
            }
            None => {}
        }
        match self.groups.iter().find(|g| g.name == user.name || g.gid == user.gid) {
            Some(have) if have.name == user.name && have.gid == user.gid => {}
            Some(have) => {
                return Err(format!(
                    "it declares the group {} with gid {}, and the image has {} with gid {}",
                    user.name, user.gid, have.name, have.gid
                ));
            }
            None => {
                self.groups.push(Group { name: user.name.clone(), gid: user.gid, members: Vec::new() });
                self.groups.sort_by_key(|g| g.gid);
            }
        }
        self.users.push(Account {
            name: user.name.clone(),
            uid: user.uid,
            gid: user.gid,
            home: user.home.clone(),
            shell: user.shell.clone(),
            create_home: false,
        });
        self.users.sort_by_key(|u| u.uid);
        Ok(())
    }

    pub fn uid(&self, id: &IdRef) -> Option<u32> {
        match id {
            IdRef::Number(n) => Some(*n),
            IdRef::Name(name) => self.users.iter().find(|u| u.name == *name).map(|u| u.uid),
        }
    }

    pub fn gid(&self, id: &IdRef) -> Option<u32> {
        match id {
            IdRef::Number(n) => Some(*n),
            IdRef::Name(name) => self.groups.iter().find(|g| g.name == *name).map(|g| g.gid),
        }
    }

    /// `uid:gid` for the image config. A uid with an account takes its
    /// primary group; one without takes the gid of the same number, so a
    /// process never runs in group root by accident.
    pub fn image_user(&self, user: Option<&UserRef>) -> Result<String, String> {
        let by_name = |name: &str| self.users.iter().find(|u| u.name == name);
        let (uid, gid) = match user {
            None => (0, 0),
            Some(UserRef::Uid(uid)) => (*uid, self.primary_gid(*uid)),
            Some(UserRef::Text(text)) => {
                let (user, group) = match text.split_once(':') {
                    Some((u, g)) => (u, Some(g)),
                    None => (text.as_str(), None),
                };
                let account = by_name(user);
                let uid = match (user.parse::<u32>(), account) {
                    (Ok(uid), _) => uid,
                    (Err(_), Some(account)) => account.uid,
                    (Err(_), None) => return Err(format!("no user is called {user:?} (define it in [users.{user}])")),
                };
                let gid =
                    match group {
                        Some(group) => match group.parse::<u32>() {
                            Ok(gid) => gid,
                            Err(_) => self.groups.iter().find(|g| g.name == group).map(|g| g.gid).ok_or_else(|| {
                                format!("no group is called {group:?} (define it in [groups.{group}])")
                            })?,
                        },
                        None => self.primary_gid(uid),
                    };
                (uid, gid)
            }
        };
        Ok(format!("{uid}:{gid}"))
    }

    /// The group of `uid`'s account; the same number when it has none.
    fn primary_gid(&self, uid: u32) -> u32 {
        self.users.iter().find(|u| u.uid == uid).map_or(uid, |u| u.gid)
    }

    pub fn passwd(&self) -> String {
        self.users
            .iter()
            .map(|u| format!("{}:x:{}:{}:{}:{}:{}\n", u.name, u.uid, u.gid, u.name, u.home, u.shell))
            .collect()
    }

    pub fn group(&self) -> String {
        self.groups.iter().map(|g| format!("{}:x:{}:{}\n", g.name, g.gid, g.members.join(","))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32) -> SpecUser {
        SpecUser { uid, gid: None, home: None, shell: None, create_home: true }
    }

    #[test]
    fn users_get_private_groups_and_resolve_by_name() {
        let users = BTreeMap::from([("app".to_string(), user(1000))]);
        let groups = BTreeMap::from([("staff".to_string(), SpecGroup { gid: 50, members: vec!["app".into()] })]);
        let accounts = Accounts::new(&users, &groups).unwrap();
        assert_eq!(
            accounts.passwd(),
            "root:x:0:0:root:/root:/sbin/nologin\ndaemon:x:1:1:daemon:/:/sbin/nologin\napp:x:1000:1000:app:/home/app:/usr/sbin/nologin\n"
        );
        assert_eq!(accounts.group(), "root:x:0:\ndaemon:x:1:\nstaff:x:50:app\napp:x:1000:\n");
        assert_eq!(accounts.image_user(None).unwrap(), "0:0");
        assert_eq!(accounts.image_user(Some(&UserRef::Uid(1))).unwrap(), "1:1");
        assert_eq!(accounts.image_user(Some(&UserRef::Uid(1000))).unwrap(), "1000:1000");
        assert_eq!(accounts.image_user(Some(&UserRef::Uid(4242))).unwrap(), "4242:4242");
        assert_eq!(accounts.image_user(Some(&UserRef::Text("app".into()))).unwrap(), "1000:1000");
        assert_eq!(accounts.image_user(Some(&UserRef::Text("app:staff".into()))).unwrap(), "1000:50");
        assert_eq!(accounts.image_user(Some(&UserRef::Text("7:8".into()))).unwrap(), "7:8");
        assert!(accounts.image_user(Some(&UserRef::Text("nobody".into()))).unwrap_err().contains("[users.nobody]"));
    }

    #[test]
    fn clashes_and_bad_names_are_refused() {
        let clash = BTreeMap::from([("app".to_string(), user(1))]);
        assert!(Accounts::new(&clash, &BTreeMap::new()).unwrap_err().reason.contains("daemon"));
        let bad = BTreeMap::from([("App".to_string(), user(1000))]);
        assert_eq!(Accounts::new(&bad, &BTreeMap::new()).unwrap_err().field, "users.App");
        let mut colon = user(1000);
        colon.home = Some("/a:b".into());
        let colon = BTreeMap::from([("app".to_string(), colon)]);
        assert_eq!(Accounts::new(&colon, &BTreeMap::new()).unwrap_err().field, "users.app.home");
        let groups = BTreeMap::from([("g".to_string(), SpecGroup { gid: 5, members: vec!["ghost".into()] })]);
        assert!(Accounts::new(&BTreeMap::new(), &groups).unwrap_err().reason.contains("ghost"));
    }
}
