# Deliberate misconfigurations for checkov.
resource "aws_s3_bucket" "data" {
  bucket = "sdl-gate-sample-data"
  acl    = "public-read"
}

resource "aws_security_group" "ssh" {
  name = "open-ssh"
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_db_instance" "db" {
  engine              = "postgres"
  instance_class      = "db.t3.micro"
  username            = "admin"
  password            = "hunter2hunter2"
  publicly_accessible = true
  storage_encrypted   = false
}
